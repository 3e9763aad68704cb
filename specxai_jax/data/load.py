"""``load_dataset(spec)``: any source → a validated :class:`Dataset`."""

from __future__ import annotations

import numpy as np

from specxai_jax.data import arrays, folder, synthetic, validate
from specxai_jax.data.dataset import Dataset
from specxai_jax.data.resize import most_common_size, resize_images, stack_resized
from specxai_jax.data.spec import parse_spec
from specxai_jax.data.subset import subset_indices
from specxai_jax.errors import DataError

MAX_IMG_SIZE = 4096
MIN_RESIZE_SIDE = 8
"""Images with a side below this many pixels are never resized: upscaled, they would hide that they hold
almost nothing (a 1×1 image becomes a constant one)."""
PERMUTATION_SEED = 0
"""Seed of the one pixel permutation ``permuted:SPEC`` applies (the same for every image and data seed)."""


def load_dataset(spec: str, *, img_size: int | None = None, seed: int = 0, max_train: int | None = None,
                 max_test: int | None = None, data_dir: str | None = None, split: str | None = None,
                 resize_mismatched: bool = False) -> Dataset:
    """Load the dataset a spec names: images (N, H, W, C) float32 in [0, 1], labels int32.

    - ``img_size``: resize every image to img_size × img_size (bilinear, antialiased); ``None`` keeps the
      native size. A folder or TFDS dataset with images of several sizes is then brought to the size most
      of its train images have (the first one seen on a tie).
    - ``max_train`` / ``max_test``: keep the first N examples after a shuffle seeded by ``seed``
      (synthetic: generate min(n_train, max_train) examples; they are i.i.d.).
    - ``seed``: also the generator seed of ``synthetic``.
    - ``data_dir``: where TFDS keeps prepared data (TFDS's default when None).
    - ``split`` (tfds only): the TFDS split the test set comes from ("EVAL"), or the train and test
      splits ("TRAIN,EVAL"); TFDS slicing works, e.g. "train[:90%],train[90%:]". Default: train and
      test (or validation).
    - ``resize_mismatched``: bring npz train and test images of different sizes to ``img_size``; without
      it such data is refused before any resize (a resize would hide that the splits differ). Images with
      a side below MIN_RESIZE_SIDE pixels are refused rather than resized.

    Every problem raises :class:`DataError` with one line saying what is wrong and how to fix it.
    """
    parsed = parse_spec(spec)
    if img_size is not None and (isinstance(img_size, bool) or not isinstance(img_size, (int, np.integer))
                                 or not 1 <= img_size <= MAX_IMG_SIZE):
        raise DataError(f"image size {img_size!r} is invalid; use an integer from 1 to {MAX_IMG_SIZE} (or none to keep the native size)")
    for limit in (max_train, max_test):
        subset_indices(1, limit, seed, 0)  # validates the limit
    name = spec.strip()
    if split is not None and parsed.scheme not in ("tfds", "permuted"):
        raise DataError(f"a split choice ({split!r}) applies to tfds: datasets only, not to {name}")
    if parsed.scheme == "permuted":
        inner = load_dataset(parsed.target, img_size=img_size, seed=seed, max_train=max_train, max_test=max_test,
                             data_dir=data_dir, split=split, resize_mismatched=resize_mismatched)
        return permute_pixels(inner, name)
    if parsed.scheme == "synthetic":
        return synthetic_dataset(name, dict(parsed.options), img_size, seed, max_train, max_test)
    if parsed.scheme == "npz":
        raw = arrays.load_npz(parsed.target)
        return from_arrays(name, raw, img_size, seed, max_train, max_test, resize_mismatched)
    if parsed.scheme == "folder":
        return folder_dataset(name, parsed.target, img_size, seed, max_train, max_test)
    splits, num_classes = tfds_module().load_tfds(parsed.target, data_dir, seed, max_train, max_test, split)
    return from_image_lists(name, splits, num_classes, img_size)


def tfds_module():
    """:mod:`specxai_jax.data.tfds_source`, imported on first use (TFDS takes ~0.3 s to import; only ``tfds:``
    specs need it); without the ``datasets`` extra, a :class:`DataError` that names the install command."""
    try:
        from specxai_jax.data import tfds_source
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in ("tensorflow_datasets", "tensorflow"):
            raise
        raise DataError(f"tfds: datasets need TensorFlow Datasets ({error.name} is not installed); install the "
                        "datasets extra: pip install 'specxai-jax[datasets]'") from None
    return tfds_source


def synthetic_dataset(name: str, options: dict, img_size, seed, max_train, max_test) -> Dataset:
    """Generate at ``size`` (default: img_size when it lies in the generator's range), then resize to img_size."""
    low, high = synthetic.LIMITS["size"]
    if "size" not in options and img_size is not None and low <= img_size <= high:
        options["size"] = img_size
    settings = {**synthetic.DEFAULTS, **options}
    for key, limit in (("n_train", max_train), ("n_test", max_test)):
        settings[key] = min(settings[key], limit or settings[key])
    x_train, y_train, x_test, y_test = synthetic.generate(**settings, seed=seed)
    if img_size is not None:
        x_train, x_test = (resize_images(x, img_size, img_size) for x in (x_train, x_test))
    return Dataset(name, x_train, y_train, x_test, y_test, settings["classes"])


def permute_pixels(dataset: Dataset, name: str) -> Dataset:
    """The dataset with one fixed permutation (seed PERMUTATION_SEED) of the H·W pixel positions of every image
    (channels move together): spatial autocorrelation removed, pixel statistics and labels kept."""
    count, height, width, channels = dataset.x_train.shape
    order = np.random.default_rng(PERMUTATION_SEED).permutation(height * width)

    def permute(x: np.ndarray) -> np.ndarray:
        return x.reshape(x.shape[0], height * width, channels)[:, order].reshape(x.shape)

    return Dataset(name, permute(dataset.x_train), dataset.y_train, permute(dataset.x_test), dataset.y_test,
                   dataset.num_classes)


def count_classes(name: str, labels: list[np.ndarray], declared: int | None) -> int:
    """Declared class count (checked against the labels) or max label + 1."""
    largest = int(max(y.max() for y in labels))
    if declared is None:
        return largest + 1
    if largest >= declared:
        raise DataError(f"{name}: label {largest} is out of range for {declared} classes; fix the labels")
    return int(declared)


def check_resizable(name: str, sizes, height: int, width: int) -> None:
    """Raise DataError if an image size (H, W) among ``sizes`` would be resized to (height, width) from a side
    below MIN_RESIZE_SIDE."""
    small = sorted({tuple(size) for size in sizes if tuple(size) != (height, width) and min(size) < MIN_RESIZE_SIDE})
    if small:
        raise DataError(f"{name} has images of {small[0][0]}×{small[0][1]} px, too small to resize to "
                        f"{height}×{width} (resizing would hide that they hold almost nothing); give images of at "
                        f"least {MIN_RESIZE_SIDE} px per side, or use them at their own size")


def from_arrays(name: str, raw: dict, img_size, seed, max_train, max_test, resize_mismatched: bool = False) -> Dataset:
    """Checked raw arrays (uint8 or float) → subset → float32 → resize → Dataset; sizes are checked before
    any resize (see :func:`load_dataset`)."""
    sizes = {split: raw[f"x_{split}"].shape[1:3] for split in ("train", "test")}
    if sizes["train"] != sizes["test"] and not resize_mismatched:
        raise DataError(f"{name}: train images are {sizes['train'][0]}×{sizes['train'][1]} px but test images are "
                        f"{sizes['test'][0]}×{sizes['test'][1]} px; store both splits at one size (a resize would "
                        "hide the difference; library callers may pass resize_mismatched=True)")
    if img_size is not None:
        check_resizable(name, sizes.values(), img_size, img_size)
    out = {}
    for stream, (split, limit) in enumerate((("train", max_train), ("test", max_test))):
        indices = subset_indices(raw[f"x_{split}"].shape[0], limit, seed, stream)
        x = validate.to_float_images(raw[f"x_{split}"][indices])
        if img_size is not None:
            x = resize_images(x, img_size, img_size)
        out[f"x_{split}"], out[f"y_{split}"] = x, raw[f"y_{split}"][indices].astype(np.int32)
    num_classes = count_classes(name, [raw["y_train"], raw["y_test"]], None)
    return Dataset(name, out["x_train"], out["y_train"], out["x_test"], out["y_test"], num_classes)


def from_image_lists(name: str, splits: dict, num_classes: int | None, img_size) -> Dataset:
    """{"train"/"test": (list of (H, W, C) uint8 or float images, labels)} → one common size → Dataset."""
    images = {split: [validate.check_raw_images(f"{name} {split} image", picture[None])[0] for picture in pictures]
              for split, (pictures, _) in splits.items()}
    height, width = (img_size, img_size) if img_size is not None else most_common_size(images["train"])
    check_resizable(name, (image.shape[:2] for split in images.values() for image in split), height, width)
    labels = {split: validate.check_labels(f"{name} {split} labels", y, len(images[split]))
              for split, (_, y) in splits.items()}
    num_classes = count_classes(name, list(labels.values()), num_classes)
    return Dataset(name, stack_resized(images["train"], height, width), labels["train"].astype(np.int32),
                   stack_resized(images["test"], height, width), labels["test"].astype(np.int32), num_classes)


def folder_dataset(name: str, root: str, img_size, seed, max_train, max_test) -> Dataset:
    """List files, keep the subset, decode only those, then assemble as for TFDS."""
    listing = folder.list_folder(root)
    chosen = {}
    for stream, (split, limit) in enumerate((("train", max_train), ("test", max_test))):
        paths, labels = listing[split]
        indices = subset_indices(len(paths), limit, seed, stream)
        files = [paths[i] for i in indices]
        chosen[split] = (folder.read_images(files), labels[indices], files)
    grayscale = folder.is_grayscale(chosen["train"][0] + chosen["test"][0])
    splits = {split: (folder.to_arrays(pictures, grayscale, files), labels)
              for split, (pictures, labels, files) in chosen.items()}
    return from_image_lists(name, splits, len(listing["classes"]), img_size)
