"""2D max pooling as reshape + one argmax per window: XLA:CPU runs its gradient far faster than the window op's."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def max_pool(x: jax.Array, window: int = 2) -> jax.Array:
    """window×window max pooling, stride = window, VALID: (B, H, W, C) → (B, H//w, W//w, C).

    The same values and gradients as ``flax.linen.max_pool(x, (w, w), strides=(w, w))`` and
    PyTorch's MaxPool2d: a window's gradient goes to its first maximal entry (row-major), also when
    entries tie (flat image regions). max_pool's gradient is XLA's select-and-scatter, which XLA:CPU
    runs as a slow loop; this form fuses with the convolutions (saliency 1.4–2.5× faster,
    benchmarks/RESULTS.md).
    """
    batch, height, width, channels = x.shape
    rows, cols = height // window, width // window
    blocks = x[:, : rows * window, : cols * window].reshape(batch, rows, window, cols, window, channels)
    return jnp.where(first_maximum(jax.lax.stop_gradient(blocks)), blocks, 0).sum(axis=(2, 4))


def first_maximum(blocks: jax.Array) -> jax.Array:
    """(B, h, w, w', w, C) → boolean mask of each window's first maximal entry (row-major).

    One argmax per window gives exactly one winner. (Comparing the entries with a separately
    reduced max can find none: XLA may recompute them in fusions whose roundings differ by an ulp.)
    """
    batch, rows, window, cols, _, channels = blocks.shape
    windows = blocks.transpose(0, 1, 3, 5, 2, 4).reshape(batch, rows, cols, channels, window * window)
    winner = jnp.argmax(windows, axis=-1)[..., None] == jnp.arange(window * window)
    return winner.reshape(batch, rows, cols, channels, window, window).transpose(0, 1, 4, 2, 5, 3)
