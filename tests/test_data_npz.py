"""npz:PATH — arrays in, the same numbers out; subsets and resizing checked against closed forms."""

import numpy as np
import pytest

from specxai_jax.data import load_dataset
from specxai_jax.errors import DataError


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return f"npz:{path}"


@pytest.fixture
def uint8_arrays():
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (30, 10, 12, 3), dtype=np.uint8),
        "y_train": np.arange(30) % 4,
        "x_test": rng.integers(0, 256, (8, 10, 12, 3), dtype=np.uint8),
        "y_test": np.arange(8) % 4,
    }


def test_uint8_images_scale_by_255(tmp_path, uint8_arrays):
    ds = load_dataset(write_npz(tmp_path / "d.npz", **uint8_arrays))
    assert ds.name == f"npz:{tmp_path / 'd.npz'}" and ds.num_classes == 4
    np.testing.assert_array_equal(ds.x_train * 255, uint8_arrays["x_train"].astype(np.float32))
    np.testing.assert_array_equal(ds.y_test, uint8_arrays["y_test"])
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32


def test_grayscale_float_images_gain_a_channel_axis(tmp_path):
    rng = np.random.default_rng(1)
    x_train, x_test = rng.uniform(size=(6, 9, 9)), rng.uniform(size=(3, 9, 9)).astype(np.float32)
    ds = load_dataset(write_npz(tmp_path / "g.npz", x_train=x_train, y_train=np.array([0, 1, 2, 0, 1, 2.0]),
                                x_test=x_test, y_test=np.array([2, 1, 0])))
    assert ds.x_train.shape == (6, 9, 9, 1) and ds.num_classes == 3
    np.testing.assert_allclose(ds.x_train[..., 0], x_train, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_train, [0, 1, 2, 0, 1, 2])


def test_subsets_are_seeded_and_keep_labels_with_images(tmp_path, uint8_arrays):
    spec = write_npz(tmp_path / "d.npz", **uint8_arrays)
    a = load_dataset(spec, max_train=7, max_test=3, seed=1)
    b = load_dataset(spec, max_train=7, max_test=3, seed=1)
    c = load_dataset(spec, max_train=7, max_test=3, seed=2)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert a.x_train.shape[0] == 7 and a.x_test.shape[0] == 3
    assert not np.array_equal(a.x_train, c.x_train)
    source = uint8_arrays["x_train"].astype(np.float32) / 255
    rows = [np.flatnonzero((source == image).all(axis=(1, 2, 3))) for image in a.x_train]
    assert all(r.size == 1 for r in rows) and len({int(r[0]) for r in rows}) == 7  # distinct source images
    np.testing.assert_array_equal(a.y_train, uint8_arrays["y_train"][[int(r[0]) for r in rows]])
    assert load_dataset(spec, max_train=1000).x_train.shape[0] == 30  # a cap above N keeps everything


@pytest.mark.parametrize("new_size,tolerance", [(24, 1e-5), (7, 1e-3)])
def test_resizing_keeps_constants_and_linear_ramps(tmp_path, new_size, tolerance):
    height, width = 16, 20
    centres_x = (np.arange(width) + 0.5) / width
    ramp = np.broadcast_to(0.2 + 0.6 * centres_x, (height, width))  # f(u) = 0.2 + 0.6 u at pixel centres u
    x = np.stack([ramp, np.full((height, width), 0.3)])[..., None].astype(np.float32)
    ds = load_dataset(write_npz(tmp_path / "r.npz", x_train=x, y_train=np.array([0, 1]), x_test=x, y_test=np.array([1, 0])),
                      img_size=new_size)
    assert ds.x_train.shape == (2, new_size, new_size, 1)
    np.testing.assert_allclose(ds.x_train[1], 0.3, atol=1e-6)
    # Bilinear interpolation reproduces a linear function exactly away from the borders; the widened
    # antialiasing kernel of a downscale does so up to its discrete sampling (hence the looser tolerance).
    new_centres = (np.arange(new_size) + 0.5) / new_size
    interior = slice(2, new_size - 2)
    expected = np.broadcast_to(0.2 + 0.6 * new_centres, (new_size, new_size))
    np.testing.assert_allclose(ds.x_train[0, :, interior, 0], expected[:, interior], atol=tolerance)


def test_train_and_test_of_different_sizes_work_once_resized_on_request(tmp_path):
    rng = np.random.default_rng(3)
    spec = write_npz(tmp_path / "m.npz", x_train=rng.uniform(size=(4, 8, 8, 1)), y_train=np.array([0, 1, 0, 1]),
                     x_test=rng.uniform(size=(2, 12, 12, 1)), y_test=np.array([0, 1]))
    with pytest.raises(DataError, match="train images are 8×8 px but test images are 12×12 px"):
        load_dataset(spec, img_size=10)  # refused before the resize would hide it
    ds = load_dataset(spec, img_size=10, resize_mismatched=True)
    assert ds.x_train.shape[1:] == ds.x_test.shape[1:] == (10, 10, 1)
