"""``python -m experiments.reproduce``: one paper figure or table (installed: ``specxai-reproduce``)."""

if __name__ == "__main__":
    from specxai_jax.cli import entry

    entry.run_command("specxai_jax.cli.reproduce")
