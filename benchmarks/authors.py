"""The authors' way to get EF: PyTorch input gradients, then per-image SciPy/NumPy post-processing.

``TorchPlainCNN`` mirrors :class:`specxai_jax.models.PlainCNN` with weights copied from Flax, so both
sides explain the same function.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def numpy_expected_frequency(saliency: np.ndarray, radius: np.ndarray, counts: np.ndarray) -> float:
    """EF ("unit") of one (H, W) map: average ranks, shifted |FFT2|², bincount radial mean."""
    ranked = rankdata(saliency.ravel(), method="average").reshape(saliency.shape) / saliency.size
    power = np.abs(np.fft.fftshift(np.fft.fft2(ranked))) ** 2
    radial = np.bincount(radius, power.ravel()) / counts
    probs = radial / radial.sum()
    return float(probs @ (np.arange(len(probs)) / (len(probs) - 1)))


def per_image_ef(maps: np.ndarray) -> np.ndarray:
    """EF of each map of (N, H, W), one image at a time."""
    height, width = maps.shape[1:]
    yy, xx = np.indices((height, width))
    radius = np.floor(np.hypot(yy - height // 2, xx - width // 2)).astype(int).ravel()
    counts = np.bincount(radius)
    return np.array([numpy_expected_frequency(saliency, radius, counts) for saliency in maps])


def torch_model(variables: dict, depth: int, beta: float):
    """A torch.nn.Module computing the same logits (B, classes) as PlainCNN for NCHW inputs."""
    import torch
    from torch import nn

    params = variables["params"]

    class TorchPlainCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = nn.ModuleList()
            for i in range(depth):
                kernel = np.asarray(params[f"conv{i}"]["kernel"])            # (3, 3, in, out)
                conv = nn.Conv2d(kernel.shape[2], kernel.shape[3], 3, padding=1)
                conv.weight.data = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
                conv.bias.data = torch.from_numpy(np.asarray(params[f"conv{i}"]["bias"]).copy())
                self.convs.append(conv)
            self.dense, self.head = (self.linear(params[name]) for name in ("dense", "head"))
            self.act = nn.Softplus(beta=beta)

        @staticmethod
        def linear(layer):
            kernel = np.asarray(layer["kernel"])
            linear = nn.Linear(*kernel.shape)
            linear.weight.data = torch.from_numpy(kernel.T.copy())
            linear.bias.data = torch.from_numpy(np.asarray(layer["bias"]).copy())
            return linear

        def forward(self, x):
            for conv in self.convs:
                x = nn.functional.max_pool2d(self.act(conv(x)), 2)
            x = x.permute(0, 2, 3, 1).flatten(1)          # Flax flattens (H, W, C)
            return self.head(self.act(self.dense(x)))

    return TorchPlainCNN().eval()


def torch_saliency(model, images_nhwc: np.ndarray) -> np.ndarray:
    """Channel-summed ∇ₓ log softmax[predicted class]: (B, H, W, C) → (B, H, W)."""
    import torch

    x = torch.from_numpy(images_nhwc.transpose(0, 3, 1, 2).copy()).requires_grad_(True)
    log_probs = torch.log_softmax(model(x), dim=-1)
    target = log_probs.argmax(dim=-1, keepdim=True)
    log_probs.gather(1, target).sum().backward()
    return x.grad.sum(dim=1).numpy()
