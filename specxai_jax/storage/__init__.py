"""Resumable results: atomic files (:mod:`.atomic`), orbax checkpoints with manifests (:mod:`.checkpoints`),
the keyed result store (:mod:`.store`) and run provenance (:mod:`.provenance`)."""
