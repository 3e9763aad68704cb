"""folder:PATH — every PIL mode is scaled by its true range (or refused with one line), and degenerate data
is never hidden by a resize (npz and folder sources)."""

import numpy as np
import pytest
from PIL import Image

from specxai_jax.data import DataError, load_dataset

RNG = np.random.default_rng(7)
GRAY = RNG.integers(0, 256, (2, 8, 8), dtype=np.uint8)
COLOUR = RNG.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
DEEP = RNG.integers(0, 65536, (2, 8, 8), dtype=np.uint16)
DEEP[0, 0, 0] = 65535


def tree(root, pictures: list[Image.Image], suffix: str = "png"):
    """train/ and val/ with classes a and b, one image each (picture 0 in a, picture 1 in b, both splits)."""
    for split in ("train", "val"):
        for name, picture in zip("ab", pictures):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            picture.save(root / split / name / f"0.{suffix}")
    return f"folder:{root}"


def palette_images() -> tuple[list[Image.Image], np.ndarray]:
    """Two P-mode images over a known palette, and their RGB values / 255 (2, 8, 8, 3)."""
    palette = RNG.integers(0, 256, (256, 3), dtype=np.uint8)
    indices = RNG.integers(0, 256, (2, 8, 8), dtype=np.uint8)
    images = []
    for index in indices:
        image = Image.fromarray(index, mode="P")
        image.putpalette(palette.ravel().tolist())
        images.append(image)
    return images, palette[indices].astype(np.float32) / 255


# (PIL images, file suffix, expected pixels (2, H, W, C) from the raw values and the mode's range)
CASES = {
    "1": ([Image.fromarray(g > 127) for g in GRAY], "png", (GRAY > 127)[..., None].astype(np.float32)),
    "L": ([Image.fromarray(g) for g in GRAY], "png", GRAY[..., None] / 255.0),
    "LA": ([Image.fromarray(np.stack([g, 255 - g], -1), mode="LA") for g in GRAY], "png", GRAY[..., None] / 255.0),
    "P": (*palette_images()[:1], "png", None),
    "RGB": ([Image.fromarray(c) for c in COLOUR], "png", COLOUR / 255.0),
    "RGBA": ([Image.fromarray(np.concatenate([c, c[..., :1]], -1), mode="RGBA") for c in COLOUR], "png", COLOUR / 255.0),
    "I;16": ([Image.fromarray(d) for d in DEEP], "png", DEEP[..., None] / 65535.0),
    "F": ([Image.fromarray((d / 65535.0).astype(np.float32)) for d in DEEP], "tif",
          (DEEP / 65535.0).astype(np.float32)[..., None]),
}


@pytest.mark.parametrize("mode", list(CASES))
def test_every_mode_is_scaled_by_its_true_range(tmp_path, mode):
    pictures, suffix, expected = CASES[mode]
    if mode == "P":
        pictures, expected = palette_images()
    assert all(picture.mode == mode for picture in pictures)
    ds = load_dataset(tree(tmp_path, pictures, suffix))
    np.testing.assert_allclose(ds.x_train, expected, atol=1e-6)
    np.testing.assert_allclose(ds.x_test, expected, atol=1e-6)


def test_16_bit_png_mean_is_the_true_mean(tmp_path):
    """The reported case: uint16 PNGs up to 65535 used to load with 99.6 % of pixels at 1.0."""
    ds = load_dataset(tree(tmp_path, [Image.fromarray(d) for d in DEEP]), img_size=8)
    assert abs(ds.x_train.mean() - DEEP.mean() / 65535) < 1e-6
    assert (ds.x_train == 1.0).mean() < 0.01


def test_16_bit_beside_8_bit_colour_keeps_both_ranges(tmp_path):
    ds = load_dataset(tree(tmp_path, [Image.fromarray(DEEP[0]), Image.fromarray(COLOUR[1])]))
    np.testing.assert_allclose(ds.x_train[0], np.repeat(DEEP[0][..., None] / 65535.0, 3, -1), atol=1e-6)
    np.testing.assert_allclose(ds.x_train[1], COLOUR[1] / 255.0, atol=1e-6)


@pytest.mark.parametrize("picture,match", [
    (Image.fromarray(DEEP[0].astype(np.int32)), "32-bit integers"),
    (Image.fromarray(DEEP[0].astype(np.float32)), r"float pixels outside \[0, 1\]"),
])
def test_modes_without_a_range_are_refused_in_one_line(tmp_path, picture, match):
    with pytest.raises(DataError, match=match) as caught:
        load_dataset(tree(tmp_path, [picture, picture], "tif"))
    assert "\n" not in str(caught.value)


def npz(path, train_shape, test_shape):
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.uniform(size=train_shape), y_train=np.arange(train_shape[0]) % 2,
             x_test=rng.uniform(size=test_shape), y_test=np.arange(test_shape[0]) % 2)
    return f"npz:{path}"


def test_one_pixel_images_are_not_upscaled_to_constants(tmp_path):
    spec = npz(tmp_path / "d.npz", (4, 1, 1, 1), (2, 1, 1, 1))
    with pytest.raises(DataError, match="1×1 px, too small to resize to 32×32"):
        load_dataset(spec, img_size=32)
    assert load_dataset(spec).x_train.shape == (4, 1, 1, 1)  # at their own size they are what they are


def test_tiny_folder_images_are_not_upscaled(tmp_path):
    tiny = [Image.fromarray(g[:2, :2]) for g in GRAY]
    with pytest.raises(DataError, match="2×2 px, too small"):
        load_dataset(tree(tmp_path, tiny), img_size=32)


def test_train_and_test_sizes_that_differ_are_refused_before_the_resize(tmp_path):
    spec = npz(tmp_path / "d.npz", (4, 16, 16, 1), (2, 8, 8, 1))
    with pytest.raises(DataError, match="train images are 16×16 px but test images are 8×8 px"):
        load_dataset(spec, img_size=32)
    assert load_dataset(spec, img_size=32, resize_mismatched=True).x_test.shape == (2, 32, 32, 1)
