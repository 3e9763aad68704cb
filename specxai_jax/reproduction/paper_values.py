"""The paper's published numbers and claims, as data, for printing beside our reproductions.

Only what the paper states is here. Tabs. 1 and 2 of the main text lost their numbers in the text
extraction we have (their rows survive, their cells do not), so they are ``None``; Tab. 4 (appendix)
survives intact. Figures carry no numbers, so each figure has the claim its caption makes.
"""

from __future__ import annotations

EF_CONVENTION = ("the paper prints EF as the authors' code computes it, mean_k(ω_k p_k) = EF/K, and says "
                 "'all values are scaled by 10⁴'")

METHOD_NAMES = {
    "vanilla_grad": "VanillaGrad", "smooth_grad": "SmoothGrad", "integrated_gradients": "IntGrad",
    "guided_backprop": "GuidedBp", "deeplift": "DeepLift", "gradcam": "GradCAM", "guided_gradcam": "Guided GradCAM",
    "lrp": "LRP",
}
"""Our method names (specxai_jax.attribution.METHODS) → the paper's row labels."""

TAB4: dict[str, dict[str, tuple[float, float] | None]] = {
    "vit-relu": {"vanilla_grad": (0.239, 0.000), "smooth_grad": (0.239, 0.000), "integrated_gradients": (0.244, 0.005),
                 "guided_backprop": (0.253, 0.000), "deeplift": (0.245, 0.007), "gradcam": (0.205, 0.051),
                 "lrp": None},
    "vit-gelu": {"vanilla_grad": (0.248, 0.000), "smooth_grad": (0.248, 0.000), "integrated_gradients": (0.253, 0.005),
                 "guided_backprop": (0.247, 0.014), "deeplift": (0.254, 0.006), "gradcam": (0.197, 0.033),
                 "lrp": None},
}
"""Tab. 4 (appendix): ViT-B16 trained from scratch on Imagenette; (EF, ΔEF) as printed; None = "Undefined".

Printed as-is, including the paper's GuidedBp ReLU-ViT ΔEF of .000 next to an EF that differs from
VanillaGrad's (an inconsistency of the source, kept rather than corrected)."""

TAB1 = None
"""Tab. 1 (Imagenette CNN, ReLU vs smooth): numbers not recoverable from the extracted text."""

TAB2 = None
"""Tab. 2 (pretrained ResNet50 / ViT-B16 on ImageNet): numbers not recoverable from the extracted text."""

TAB3 = {
    "imagenette-224": {"input": 224, "lr": 1e-4, "depth": 5, "cap": 0.6},
    "imagenette-112": {"input": 112, "lr": 1e-4, "depth": 5, "cap": 0.6},
    "imagenette-64": {"input": 64, "lr": 3e-4, "depth": 5, "cap": 0.6},
    "imagenette-46": {"input": 46, "lr": 5e-4, "depth": 5, "cap": 0.6},
    "cifar10": {"input": 32, "lr": 3e-3, "depth": 4, "cap": 0.7},
    "fashion_mnist": {"input": 28, "lr": 1e-4, "depth": 3, "cap": 0.8},
}
"""Tab. 3 (appendix): hyperparameters per dataset (also the presets in specxai_jax.configs.PRESETS)."""

CLAIMS = {
    "fig2": "Radial spectra of VanillaGrad maps: the smaller β, the lighter the high-frequency tail; ReLU's is "
            "the heaviest, on every dataset (Fig. 2).",
    "fig3": "Expected Frequency grows with β among models trained to the same accuracy cap; ReLU is highest (Fig. 3).",
    "fig5": "Without the accuracy cap (≈200 epochs, Imagenette 224), smaller β reaches lower validation accuracy: "
            "restricting high frequencies costs accuracy (Fig. 5).",
    "fig6": "Without the cap, across learning rates, larger β still gives heavier spectral tails, though less "
            "clearly than with the cap (Fig. 6).",
    "fig7": "Spectra barely change with depth; learning rate changes their shape but not the ordering: larger β, "
            "heavier tail (Fig. 7, Imagenette 224).",
    "fig8": "At input sizes 46, 64, 112 and 224 the ordering by β holds; the mid-frequency peak fades as the input "
            "shrinks (Fig. 8).",
    "fig9": "Skip connections raise the tail slightly, batch norm raises it markedly; in every variant ReLU has a "
            "heavier tail and higher EF than SoftPlus β=1 (Fig. 9).",
    "fig11": "NTK eigenvalues decay faster for smaller SoftPlus β; ReLU has the heaviest tail (Fig. 11, Lemma 1).",
    "tab1": "Post-hoc methods lower EF relative to VanillaGrad (ΔEF > 0); GradCAM lowers it most; LRP is undefined "
            "for smooth activations (Tab. 1, Imagenette CNN).",
    "tab2": "The same holds for pretrained ResNet50 and ViT-B16 on ImageNet (Tab. 2).",
    "tab4": "ViT-B16 from scratch on Imagenette: GradCAM has the largest ΔEF; GELU-ViT has a slightly higher "
            "VanillaGrad EF than ReLU-ViT, against the theory's expectation (Tab. 4).",
}
"""Each target's claim, in the paper's words where possible (figure captions, Sec. 5, App. B)."""


def paper_table(target: str) -> dict | None:
    """The published (EF, ΔEF) table of ``tab1``/``tab2``/``tab4`` keyed by our model names, or None."""
    return {"tab1": TAB1, "tab2": TAB2, "tab4": TAB4}.get(target)
