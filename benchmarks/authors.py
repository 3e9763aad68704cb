"""The authors' way to get EF: PyTorch input gradients, then per-image SciPy/NumPy post-processing.

``torch_plain_cnn`` is :class:`specxai_jax.models.PlainCNN` in PyTorch; ``torch_model`` copies Flax
weights into it, so both sides explain the same function; ``train_and_explain`` is the authors' β-sweep:
one model after another, then per-image post-processing.
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


def torch_plain_cnn(depth: int, channels: int, size: int, beta: float, width: int = 16, dense: int = 512,
                    classes: int = 10):
    """The paper's plain conv net in PyTorch, PyTorch's own initialisation; NCHW inputs → logits."""
    from torch import nn

    class TorchPlainCNN(nn.Module):
        def __init__(self):
            super().__init__()
            widths = [channels] + [width * 2**i for i in range(depth)]
            self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(widths, widths[1:]))
            self.dense = nn.Linear(widths[-1] * (size // 2**depth) ** 2, dense)
            self.head = nn.Linear(dense, classes)
            self.act = nn.ReLU() if np.isinf(beta) else nn.Softplus(beta=beta)

        def forward(self, x):
            for conv in self.convs:
                x = nn.functional.max_pool2d(self.act(conv(x)), 2)
            x = x.permute(0, 2, 3, 1).flatten(1)          # Flax flattens (H, W, C)
            return self.head(self.act(self.dense(x)))

    return TorchPlainCNN()


def torch_model(variables: dict, depth: int, beta: float):
    """:func:`torch_plain_cnn` holding PlainCNN's Flax weights: the same logits (B, classes), NCHW inputs."""
    import torch

    params = variables["params"]
    first, dense = np.asarray(params["conv0"]["kernel"]), np.asarray(params["dense"]["kernel"])
    width, top = first.shape[3], np.asarray(params[f"conv{depth - 1}"]["kernel"]).shape[3]
    size = int(round((dense.shape[0] / top) ** 0.5)) * 2**depth
    model = torch_plain_cnn(depth, first.shape[2], size, beta, width, dense.shape[1],
                            np.asarray(params["head"]["kernel"]).shape[1])

    def copy(layer, kernel, bias):
        layer.weight.data = torch.from_numpy(np.ascontiguousarray(kernel))
        layer.bias.data = torch.from_numpy(np.asarray(bias).copy())

    for i, conv in enumerate(model.convs):
        copy(conv, np.asarray(params[f"conv{i}"]["kernel"]).transpose(3, 2, 0, 1), params[f"conv{i}"]["bias"])
    for name in ("dense", "head"):
        copy(getattr(model, name), np.asarray(params[name]["kernel"]).T, params[name]["bias"])
    return model.eval()


def torch_saliency(model, images_nhwc: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Channel-summed ∇ₓ log softmax[predicted class]: (B, H, W, C) → (B, H, W), computed on ``device``."""
    import torch

    x = torch.from_numpy(images_nhwc.transpose(0, 3, 1, 2).copy()).to(device).requires_grad_(True)
    log_probs = torch.log_softmax(model(x), dim=-1)
    target = log_probs.argmax(dim=-1, keepdim=True)
    log_probs.gather(1, target).sum().backward()
    return x.grad.sum(dim=1).cpu().numpy()


def train_and_explain(data: dict, betas, seeds, *, depth: int, lr: float, lr_decay: float, batch_size: int,
                      acc_cap: float | None, max_epochs: int, n_explain: int, device: str = "cpu") -> list[dict]:
    """The authors' β-sweep: per (β, seed), train with Adam until test accuracy ≥ ``acc_cap`` (or for
    ``max_epochs``), then VanillaGrad of ``n_explain`` test images and per-image EF. One row per model.
    ``device``: where PyTorch trains and explains (``cpu``, ``cuda``, ``cuda:1`` …); the data is put there once."""
    import torch

    to_nchw = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))).to(device)  # noqa: E731
    x_train, x_test = to_nchw(data["x_train"]), to_nchw(data["x_test"])
    labels = lambda a: torch.from_numpy(a.astype(np.int64)).to(device)  # noqa: E731
    y_train, y_test = labels(data["y_train"]), labels(data["y_test"])
    classes = int(max(data["y_train"].max(), data["y_test"].max())) + 1
    rows = []
    for beta in betas:
        for seed in seeds:
            torch.manual_seed(seed)
            model = torch_plain_cnn(depth, x_train.shape[1], x_train.shape[2], beta, classes=classes).to(device)
            optimizer = torch.optim.Adam(model.parameters(), lr=lr)
            schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, lr_decay)
            steps = len(x_train) // batch_size
            for epoch in range(max_epochs):
                model.train()
                order = torch.randperm(len(x_train))[: steps * batch_size].view(steps, batch_size).to(device)
                for index in order:
                    optimizer.zero_grad()
                    torch.nn.functional.cross_entropy(model(x_train[index]), y_train[index]).backward()
                    optimizer.step()
                schedule.step()
                model.eval()
                with torch.no_grad():
                    accuracy = float((model(x_test).argmax(-1) == y_test).float().mean())
                if acc_cap is not None and accuracy >= acc_cap:
                    break
            images = data["x_test"][:n_explain]
            maps = np.concatenate([torch_saliency(model, images[i:i + 250], device) for i in range(0, len(images), 250)])
            rows.append({"beta": beta, "seed": seed, "test_accuracy": accuracy, "epochs": epoch + 1,
                         "ef": float(per_image_ef(maps).mean())})
    return rows
