"""folder:PATH — PNG/JPEG class folders read with PIL, class index = sorted folder name."""

import numpy as np
import pytest
from PIL import Image

from specxai_jax.data import DataError, load_dataset

CLASSES = ("cat", "dog", "eel")  # written in a shuffled order below; indices must follow this sorted order


def write_image(path, array, fmt="PNG"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt)


def gray_tree(root, eval_split="val", shape=(8, 8)):
    """Writes a grayscale PNG tree; returns {relative path: (pixels, class index)}."""
    rng = np.random.default_rng(0)
    written = {}
    for split, count in (("train", 3), (eval_split, 2)):
        for name in ("eel", "cat", "dog"):
            for i in range(count):
                pixels = rng.integers(0, 256, shape, dtype=np.uint8)
                relative = f"{split}/{name}/{i}.png"
                write_image(root / relative, pixels)
                written[relative] = (pixels, CLASSES.index(name))
    return written


def rows_of(images: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    return np.flatnonzero((images[..., 0] == pixels.astype(np.float32) / 255).all(axis=(1, 2)))


@pytest.mark.parametrize("eval_split", ["val", "test"])
def test_grayscale_png_tree_round_trips(tmp_path, eval_split):
    written = gray_tree(tmp_path, eval_split)
    (tmp_path / "train" / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / "train" / ".hidden").mkdir()
    ds = load_dataset(f"folder:{tmp_path}")
    assert ds.num_classes == 3 and ds.x_train.shape == (9, 8, 8, 1) and ds.x_test.shape == (6, 8, 8, 1)
    for relative, (pixels, label) in written.items():
        images, labels = (ds.x_train, ds.y_train) if relative.startswith("train") else (ds.x_test, ds.y_test)
        rows = rows_of(images, pixels)
        assert rows.size == 1 and labels[rows[0]] == label


def test_colour_and_mixed_sizes_use_the_most_common_size(tmp_path):
    rng = np.random.default_rng(1)
    for name in ("a", "b"):
        for i in range(3):
            write_image(tmp_path / "train" / name / f"{i}.png", rng.integers(0, 256, (10, 14), dtype=np.uint8))
        write_image(tmp_path / "test" / name / "x.jpg", rng.integers(0, 256, (20, 28, 3), dtype=np.uint8), "JPEG")
    flat = np.full((10, 14, 3), (255, 0, 0), np.uint8)
    write_image(tmp_path / "train" / "a" / "red.jpeg", np.tile(flat, (2, 2, 1)), "JPEG")
    ds = load_dataset(f"folder:{tmp_path}")
    assert ds.x_train.shape == (7, 10, 14, 3) and ds.x_test.shape == (2, 10, 14, 3)  # 6 of 7 are 10×14
    red = ds.x_train[np.argmax(ds.x_train[..., 0].mean(axis=(1, 2)) - ds.x_train[..., 1].mean(axis=(1, 2)))]
    np.testing.assert_allclose(red.mean(axis=(0, 1)), [1.0, 0.0, 0.0], atol=0.02)  # JPEG ≈ lossless on flat red
    gray = ds.x_train[np.ptp(ds.x_train, axis=-1).max(axis=(1, 2)) == 0]
    assert gray.shape[0] == 6  # grayscale PNGs become R = G = B
    square = load_dataset(f"folder:{tmp_path}", img_size=12)
    assert square.x_train.shape == (7, 12, 12, 3)


def test_subset_decodes_only_the_chosen_files(tmp_path):
    gray_tree(tmp_path)
    (tmp_path / "train" / "dog" / "9.png").write_bytes(b"broken")
    with pytest.raises(DataError, match="9.png"):
        load_dataset(f"folder:{tmp_path}")
    seen = set()
    for seed in range(8):
        try:
            ds = load_dataset(f"folder:{tmp_path}", max_train=2, max_test=1, seed=seed)
        except DataError:
            continue  # this seed picked the broken file or a single class
        assert ds.x_train.shape[0] == 2 and ds.x_test.shape[0] == 1
        seen.add(ds.x_train.tobytes())
    assert len(seen) >= 2  # different seeds pick different files


@pytest.mark.parametrize("layout,fragment", [
    ("missing", "no such directory"),
    ("no_train", "no train/"),
    ("no_eval", "no val/ or test/"),
    ("empty_class", "holds no images"),
    ("one_class", "at least 2"),
    ("unknown_eval_class", "that train/ lacks"),
    ("unreadable", "cannot read image"),
])
def test_bad_folders_are_one_line_errors(tmp_path, layout, fragment):
    splits = {"no_train": ("val",), "no_eval": ("train", "holdout")}.get(layout, ("train", "val"))
    classes = ("a",) if layout == "one_class" else ("a", "b")
    if layout != "missing":
        for split in splits:
            for name in classes:
                write_image(tmp_path / split / name / "0.png", np.zeros((4, 4), np.uint8))
    if layout == "empty_class":
        for f in (tmp_path / "val").rglob("*.png"):
            f.unlink()
    elif layout == "unknown_eval_class":
        write_image(tmp_path / "val" / "zebra" / "0.png", np.zeros((4, 4), np.uint8))
    elif layout == "unreadable":
        (tmp_path / "val" / "a" / "1.jpg").write_bytes(b"\xff\xd8 truncated")
    root = tmp_path / "nowhere" if layout == "missing" else tmp_path
    with pytest.raises(DataError, match=fragment) as info:
        load_dataset(f"folder:{root}")
    assert "\n" not in str(info.value)
