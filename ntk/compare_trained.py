"""``python -m ntk.compare_trained``: trained sweeps against NTK eigen-decay (installed: ``specxai-compare-ntk``)."""

if __name__ == "__main__":
    from specxai_jax.cli import entry

    entry.run_command("specxai_jax.cli.compare_trained")
