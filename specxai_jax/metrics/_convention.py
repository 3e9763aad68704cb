"""Quantus's call convention for the project's metrics: layouts of ``x_batch``/``a_batch`` and the metric base.

Quantus calls a metric as ``metric(model=, x_batch=, y_batch=, a_batch=, s_batch=, channel_first=,
explain_func=, explain_func_kwargs=, ...)`` and expects one score per image back (a list). Its
``x_batch`` is channel-first (B, C, H, W) or channel-last (B, H, W, C); ``a_batch`` comes as the
explanation method produced it: (B, H, W), or 4-D in the layout of ``x_batch`` (often (B, 1, H, W)).
"""

from __future__ import annotations

from typing import Any, overload

import numpy as np

# Keywords that quantus.evaluate and Quantus's own metrics pass, which these metrics do not need.
# (Quantus's ``softmax`` and ``model_predict_kwargs`` would change a score: refused, not ignored.)
QUANTUS_KEYWORDS = frozenset({"s_batch", "device", "batch_size", "custom_batch"})


@overload
def to_numpy(array: None) -> None: ...
@overload
def to_numpy(array: object) -> np.ndarray: ...
def to_numpy(array: Any) -> np.ndarray | None:   # Any: a torch tensor is duck-typed, torch not imported
    """NumPy view of a NumPy/JAX array or a torch tensor (torch is touched only for a tensor); None kept."""
    if array is None:
        return None
    if type(array).__module__.startswith("torch"):
        return array.detach().cpu().numpy()
    return np.asarray(array)


def infer_channel_first(batch_shape: tuple[int, ...]) -> bool:
    """Quantus's rule for 4-D batches: channels first when axis 1 is the smallest of the three non-batch axes."""
    if len(batch_shape) != 4:
        raise ValueError(f"expected a 4-D batch (B, C, H, W) or (B, H, W, C) to infer its layout; got {batch_shape}")
    channels_first = batch_shape[1] < min(batch_shape[2], batch_shape[3])
    channels_last = batch_shape[3] < min(batch_shape[1], batch_shape[2])
    if channels_first == channels_last:
        raise ValueError(f"cannot tell whether batch {batch_shape} is channel-first or channel-last: "
                         "pass channel_first=")
    return channels_first


def resolve_channel_first(channel_first: bool | None, x_batch, a_batch) -> bool:
    """The layout flag: given, else inferred from ``x_batch`` (Quantus's rule), else from a 4-D ``a_batch``."""
    if channel_first is not None:
        return bool(channel_first)
    reference = x_batch if x_batch is not None else a_batch
    return infer_channel_first(np.shape(reference))


def images_nhwc(x_batch, channel_first: bool) -> np.ndarray:
    """Images (B, H, W, C) from a channel-first or channel-last batch."""
    x_batch = to_numpy(x_batch)
    if x_batch.ndim != 4:
        raise ValueError(f"x_batch must be 4-D (B, C, H, W) or (B, H, W, C); got shape {x_batch.shape}")
    return x_batch.transpose(0, 2, 3, 1) if channel_first else x_batch


def attributions_nhwc(a_batch, channel_first: bool) -> np.ndarray:
    """Attributions (B, H, W, C′) (C′ = C, or 1 for one map per image) from (B, H, W) or a 4-D batch."""
    a_batch = to_numpy(a_batch)
    if a_batch.ndim == 3:
        return a_batch[..., None]
    if a_batch.ndim != 4:
        raise ValueError(f"a_batch must be (B, H, W) or 4-D in the layout of x_batch; got shape {a_batch.shape}")
    return a_batch.transpose(0, 2, 3, 1) if channel_first else a_batch


def check_batch_sizes(**batches) -> None:
    """Raise ValueError unless every given batch (None skipped) has the same leading size."""
    sizes = {name: np.shape(batch)[0] for name, batch in batches.items() if batch is not None}
    if len(set(sizes.values())) > 1:
        raise ValueError("batch sizes differ: " + ", ".join(f"{name} has {size}" for name, size in sizes.items()))


class QuantusStyleMetric:
    """Base of the metrics called the Quantus way; ``score_direction`` is "lower" or "higher" (the better end).

    Subclasses implement ``scores(model, x_nhwc, y_batch, a_nhwc, key) → (B,)``; ``x_nhwc`` is None when
    no ``x_batch`` was given.
    """

    score_direction: str

    def __call__(self, model=None, x_batch=None, y_batch=None, a_batch=None, channel_first: bool | None = None,
                 explain_func=None, explain_func_kwargs: dict | None = None, key=None, **kwargs) -> list[float]:
        """Scores per image, a list of floats (B,). ``a_batch`` None: ``explain_func(model=, inputs=, targets=)``."""
        unknown = sorted(set(kwargs) - QUANTUS_KEYWORDS)
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected keyword arguments: {', '.join(unknown)}")
        if a_batch is None:
            if explain_func is None:
                raise ValueError("pass a_batch (attributions) or explain_func to compute them")
            a_batch = explain_func(model=model, inputs=x_batch, targets=y_batch, **(explain_func_kwargs or {}))
        check_batch_sizes(x_batch=x_batch, y_batch=y_batch, a_batch=a_batch)
        a_batch = to_numpy(a_batch)
        layout_matters = x_batch is not None or a_batch.ndim == 4
        layout = resolve_channel_first(channel_first, x_batch, a_batch) if layout_matters else False
        x_nhwc = None if x_batch is None else images_nhwc(x_batch, layout)
        y = None if y_batch is None else to_numpy(y_batch).astype(np.int32)
        scores = self.scores(model, x_nhwc, y, attributions_nhwc(a_batch, layout), key)
        return np.asarray(scores, dtype=np.float64).tolist()

    def scores(self, model, x_nhwc, y_batch, a_nhwc, key) -> np.ndarray:
        """Scores (B,) (or (B, K) per-image rows) of attributions (B, H, W, C′) for images (B, H, W, C)."""
        raise NotImplementedError(f"{type(self).__name__} must implement scores()")
