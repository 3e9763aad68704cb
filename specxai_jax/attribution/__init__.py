"""Explanations of any model: ``explain(method, model, variables, x)`` and ``make_explainer``.

The API lives in :mod:`.api`; shared plumbing in :mod:`.core`, modified backward passes in
:mod:`.backward`, one method per module (vanilla, smooth, integrated, guided, deeplift, lrp, gradcam).
"""

from specxai_jax.attribution.api import METHODS, Explainer, explain, make_explainer
from specxai_jax.attribution.deeplift import deeplift
from specxai_jax.attribution.gradcam import gradcam, guided_gradcam
from specxai_jax.attribution.guided import guided_backprop
from specxai_jax.attribution.integrated import integrated_gradients
from specxai_jax.attribution.lrp import lrp
from specxai_jax.attribution.smooth import smooth_grad
from specxai_jax.attribution.vanilla import vanilla_grad

__all__ = ["METHODS", "Explainer", "explain", "make_explainer", "deeplift", "gradcam", "guided_gradcam",
           "guided_backprop", "integrated_gradients", "lrp", "smooth_grad", "vanilla_grad"]
