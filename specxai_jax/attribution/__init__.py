"""Attribution methods behind :mod:`specxai_jax.explain`: shared plumbing in :mod:`.core`, modified backward
passes in :mod:`.backward`, one method per module (vanilla, smooth, integrated, guided, deeplift, lrp, gradcam)."""
