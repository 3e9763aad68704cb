"""``python -m experiments.explanation_gap``: EF and the explanation gap per method (installed: ``specxai-gap``)."""

if __name__ == "__main__":
    from specxai_jax.cli import entry

    entry.run_command("specxai_jax.cli.explanation_gap")
