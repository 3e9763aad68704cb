"""``python -m experiments.sweep_beta``: the β-sweep, the main job (installed: ``specxai-sweep``)."""

if __name__ == "__main__":
    from specxai_jax.cli import entry

    entry.run_command("specxai_jax.cli.sweep_beta")
