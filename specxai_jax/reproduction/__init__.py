"""Reproduction targets of the paper's figures and tables, their checks and the combined report."""
