"""2D max pooling; on CPU as reshape + one argmax per window, whose gradient XLA:CPU runs far faster."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from specxai_jax.ops import fast_forms


def max_pool(x: jax.Array, window: int = 2) -> jax.Array:
    """window×window max pooling, stride = window, VALID: (B, H, W, C) → (B, H//w, W//w, C).

    The values and gradients of ``flax.linen.max_pool(x, (w, w), strides=(w, w))`` and PyTorch's
    MaxPool2d: a window's gradient goes to its first maximal entry (row-major), also when entries tie
    (flat image regions). Plain form ``lax.reduce_window``; CPU fast form reshape + one argmax per
    window (:mod:`specxai_jax.ops.fast_forms` "argmax_pooling"), because the plain form's gradient is
    XLA's select-and-scatter, which XLA:CPU runs as a slow loop, while the fast form fuses with the
    convolutions (saliency 1.4–2.5× faster, benchmarks/RESULTS.md).
    """
    if not fast_forms.enabled("argmax_pooling"):
        shape = (1, window, window, 1)
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, shape, shape, "VALID")
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
