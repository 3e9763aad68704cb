"""``python -m ntk.verify_lemma1``: Lemma 1 checked numerically (installed: ``specxai-verify-lemma1``)."""

if __name__ == "__main__":
    from specxai_jax.cli import entry

    entry.run_command("specxai_jax.cli.verify_lemma1")
