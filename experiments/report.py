"""``python -m experiments.report``: the combined report of reproduction runs (installed: ``specxai-report``)."""

if __name__ == "__main__":
    from specxai_jax.cli import entry

    entry.run_command("specxai_jax.cli.report")
