"""Synthetic natural-like images: a class template (oriented Gabor patch) over 1/f noise.

Each class k owns a smooth template: a Gaussian-windowed grating with its own location (on a ring
around the centre), orientation, wavelength and colour. An image of class k is the template, shifted
by a random jitter and scaled by a random amplitude, added to pink noise (power ∝ 1/f^2.2, close to
the 1/f² spectrum of natural images; option ``slope`` sets the exponent, ``slope=0`` gives white noise),
then min–max scaled to [0, 1] per image. Generated with numpy
in chunks; deterministic per seed.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from specxai_jax.errors import DataError

SPECTRUM_EXPONENT = 2.2  # background power ∝ 1/f^SPECTRUM_EXPONENT (natural images: about 2)
DEFAULTS = {"size": 32, "classes": 10, "channels": 1, "n_train": 2000, "n_test": 500, "slope": SPECTRUM_EXPONENT}
LIMITS = {"size": (16, 224), "classes": (2, 32), "channels": (1, 3), "n_train": (1, 10**6), "n_test": (1, 10**6),
          "slope": (0.0, 6.0)}
FLOAT_OPTIONS = ("slope",)  # the other options are integers
NOISE_STD = 0.15         # pink-noise standard deviation relative to the template's peak amplitude 1
JITTER = 0.06            # template shift, fraction of the image side (uniform in ±JITTER)
AMPLITUDE = (0.7, 1.3)   # template amplitude range
RING_RADIUS = 0.22       # class centres lie on this ring around the image centre (fraction of side)
CHANNEL_MIX = 0.35       # colour images: per-channel noise added to a shared luminance field
CHUNK = 256              # images generated at once (bounds memory at large sizes)


def parse_options(text: str) -> dict[str, int | float]:
    """"size=64,slope=0" → {"size": 64, "slope": 0.0}; unknown names or bad values → DataError."""
    options: dict[str, int | float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = (s.strip() for s in item.partition("="))
        if name not in DEFAULTS:
            raise DataError(f"unknown synthetic option {name!r}; valid options: {', '.join(DEFAULTS)} "
                            "(e.g. synthetic:size=64,classes=10)")
        kind = float if name in FLOAT_OPTIONS else int
        try:
            number = kind(value)
        except ValueError:
            what = "a number" if kind is float else "an integer"
            raise DataError(f"synthetic option {name}={value!r} is not {what}; write e.g. {name}={DEFAULTS[name]}") from None
        options[name] = check_option(name, number)
    return options


def check_option(name: str, value: int | float) -> int | float:
    """Range-check one synthetic option."""
    low, high = LIMITS[name]
    if name == "channels" and value not in (1, 3):
        raise DataError(f"synthetic channels={value}; use channels=1 (grayscale) or channels=3 (colour)")
    if not low <= value <= high:
        raise DataError(f"synthetic {name}={value} is out of range; use {low} ≤ {name} ≤ {high}")
    return value


def class_templates_parameters(rng: np.random.Generator, classes: int, channels: int) -> dict[str, np.ndarray]:
    """Per-class template parameters (all arrays of length ``classes``; colour (classes, channels))."""
    angle = 2 * np.pi * (np.arange(classes) + rng.uniform()) / classes
    return {
        "cx": 0.5 + RING_RADIUS * np.cos(angle),
        "cy": 0.5 + RING_RADIUS * np.sin(angle),
        "theta": rng.permutation(classes) * np.pi / classes + rng.uniform(0, np.pi / classes),
        "wavelength": rng.uniform(0.2, 0.35, classes),
        "width": rng.uniform(0.12, 0.16, classes),
        "colour": rng.uniform(0.5, 1.0, (classes, channels)) if channels > 1 else np.ones((classes, 1)),
    }


def pink_noise(rng: np.random.Generator, count: int, size: int, fields: int,
               slope: float = SPECTRUM_EXPONENT) -> np.ndarray:
    """(count, fields, size, size) float32 fields with power ∝ 1/f^slope (0: white), unit std each."""
    white = rng.standard_normal((count, fields, size, size), dtype=np.float32)
    radius = np.hypot(scipy.fft.fftfreq(size)[:, None], scipy.fft.rfftfreq(size)[None, :]).astype(np.float32)
    amplitude = np.zeros_like(radius)
    np.power(radius, -slope / 2, out=amplitude, where=radius > 0)
    noise = scipy.fft.irfft2(scipy.fft.rfft2(white) * amplitude, s=(size, size))
    return noise / noise.std(axis=(-2, -1), keepdims=True)


def render(rng: np.random.Generator, labels: np.ndarray, params: dict, size: int, channels: int,
           slope: float = SPECTRUM_EXPONENT) -> np.ndarray:
    """Images (N, size, size, channels) float32 in [0, 1] for integer ``labels`` (N,)."""
    count = labels.shape[0]
    grid = (np.arange(size, dtype=np.float32) + 0.5) / size
    yy, xx = grid[None, :, None], grid[None, None, :]
    per_image = {name: params[name][labels].astype(np.float32)[:, None, None]
                 for name in ("cx", "cy", "theta", "wavelength", "width")}
    shift_x, shift_y, amplitude = (rng.uniform(low, high, (count, 1, 1)).astype(np.float32)
                                   for low, high in ((-JITTER, JITTER), (-JITTER, JITTER), AMPLITUDE))
    dx = xx - per_image["cx"] - shift_x
    dy = yy - per_image["cy"] - shift_y
    along = dx * np.cos(per_image["theta"]) + dy * np.sin(per_image["theta"])
    envelope = np.exp(-(dx**2 + dy**2) / (2 * per_image["width"] ** 2))
    template = amplitude * envelope * (0.5 + 0.5 * np.cos(2 * np.pi * along / per_image["wavelength"]))
    if channels == 1:
        noise = pink_noise(rng, count, size, 1, slope)[:, 0]
        images = (template + NOISE_STD * noise)[..., None]
    else:
        fields = pink_noise(rng, count, size, 1 + channels, slope)
        noise = (fields[:, :1] + CHANNEL_MIX * fields[:, 1:]) / np.sqrt(1 + CHANNEL_MIX**2)
        colour = params["colour"][labels].astype(np.float32)[:, :, None, None]
        images = np.moveaxis(template[:, None] * colour + NOISE_STD * noise, 1, -1)
    low = images.min(axis=(1, 2, 3), keepdims=True)
    high = images.max(axis=(1, 2, 3), keepdims=True)
    return ((images - low) / (high - low)).astype(np.float32)


def generate(*, size: int = 32, classes: int = 10, channels: int = 1, n_train: int = 2000,
             n_test: int = 500, slope: float = SPECTRUM_EXPONENT,
             seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): images (N, size, size, channels) float32 in [0, 1], labels int32.

    Labels cycle through the classes (balanced) in a seeded random order; ``slope``: background 1/f^slope.
    """
    for name, value in (("size", size), ("classes", classes), ("channels", channels),
                        ("n_train", n_train), ("n_test", n_test), ("slope", slope)):
        check_option(name, value)
    template_rng, train_rng, test_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    params = class_templates_parameters(template_rng, classes, channels)
    def split(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.permutation(np.arange(count) % classes).astype(np.int32)
        images = np.concatenate([render(rng, labels[i:i + CHUNK], params, size, channels, slope)
                                 for i in range(0, count, CHUNK)])
        return images, labels

    x_train, y_train = split(train_rng, n_train)
    x_test, y_test = split(test_rng, n_test)
    return x_train, y_train, x_test, y_test
