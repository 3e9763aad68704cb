"""Throughput benchmarks; each prints one JSON object as its last line of output."""
