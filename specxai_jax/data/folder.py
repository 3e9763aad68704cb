"""``folder:PATH`` — ``PATH/train/<class>/*.png|jpg`` and ``PATH/val/<class>/…`` (or ``PATH/test/``).

Class indices follow the sorted class-folder names of ``train/``. Images are read with PIL; they are
grayscale (C = 1) when every selected image is grayscale, RGB (C = 3) otherwise (alpha is dropped).
Pixels are scaled by the true range of their PIL mode, as npz data is: 8-bit modes (1, L, LA, P, RGB,
RGBA, …) by 1/255, 16-bit modes (I;16…, and I as PNG reads 16-bit grayscale) by 1/65535; float images
(F) must already lie in [0, 1]. A mode without a defined range (32-bit integers outside PNG) is refused.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from specxai_jax.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
GRAYSCALE_MODES = ("1", "L", "LA", "I", "I;16", "F")
EVAL_SPLITS = ("val", "test")


def visible_entries(path: str) -> list[str]:
    """Sorted names in ``path`` that do not start with a dot."""
    return sorted(name for name in os.listdir(path) if not name.startswith("."))


def list_split(root: str, split: str, classes: list[str] | None) -> tuple[list[str], np.ndarray, list[str]]:
    """(image paths, labels (N,) int64, class names) of ``root/split``; ``classes`` fixes the label order."""
    split_dir = os.path.join(root, split)
    names = [name for name in visible_entries(split_dir) if os.path.isdir(os.path.join(split_dir, name))]
    if classes is None:
        classes = names
    unknown = sorted(set(names) - set(classes))
    if unknown:
        raise DataError(f"folder:{split_dir} has class folder(s) {', '.join(unknown)} that train/ lacks; "
                        "use the same class folder names in every split")
    paths, labels = [], []
    for label, name in enumerate(classes):
        class_dir = os.path.join(split_dir, name)
        if not os.path.isdir(class_dir):
            continue
        files = [os.path.join(class_dir, f) for f in visible_entries(class_dir) if f.lower().endswith(IMAGE_SUFFIXES)]
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise DataError(f"folder:{split_dir} holds no images; put {'/'.join(IMAGE_SUFFIXES)} files in one "
                        "sub-folder per class, e.g. train/cat/001.png")
    return paths, np.asarray(labels, np.int64), classes


def list_folder(root: str) -> dict:
    """File lists of both splits: {"train": (paths, labels), "test": (paths, labels), "classes": names}."""
    where = f"folder:{root}"
    if not os.path.isdir(root):
        raise DataError(f"{where}: no such directory; give a folder holding train/ and val/ (or test/)")
    if not os.path.isdir(os.path.join(root, "train")):
        raise DataError(f"{where} has no train/ sub-folder; lay it out as train/<class>/*.png and val/<class>/*.png")
    eval_split = next((s for s in EVAL_SPLITS if os.path.isdir(os.path.join(root, s))), None)
    if eval_split is None:
        raise DataError(f"{where} has no val/ or test/ sub-folder; add one laid out like train/<class>/*.png")
    train_paths, train_labels, classes = list_split(root, "train", None)
    if len(classes) < 2:
        raise DataError(f"{where}/train has {len(classes)} class folder(s); a classifier needs at least 2")
    test_paths, test_labels, _ = list_split(root, eval_split, classes)
    return {"train": (train_paths, train_labels), "test": (test_paths, test_labels), "classes": classes}


def read_images(paths: list[str]) -> list[Image.Image]:
    """Decoded PIL images; an unreadable file raises DataError naming it."""
    images = []
    for path in paths:
        try:
            with Image.open(path) as image:
                image.load()
                images.append(image.copy())
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            raise DataError(f"cannot read image {path} ({type(error).__name__}: {error}); "
                            "replace or delete the file") from None
    return images


def pixel_array(image: Image.Image, grayscale: bool, path: str) -> np.ndarray:
    """One PIL image → (H, W, C) uint8 (8-bit modes) or float32 in [0, 1] (16-bit and float modes),
    C = 1 if ``grayscale`` else 3; a mode whose range is not defined raises DataError naming ``path``."""
    mode = image.mode
    if mode.startswith("I;16") or (mode == "I" and image.format == "PNG"):
        values = np.asarray(image).astype(np.float32) / np.float32(65535.0)
    elif mode == "I":
        raise DataError(f"image {path} holds 32-bit integers (PIL mode I), whose range is not defined; "
                        "save it as 8- or 16-bit PNG, or as float in [0, 1]")
    elif mode == "F":
        values = np.asarray(image, np.float32)
        if not np.isfinite(values).all() or values.min() < 0.0 or values.max() > 1.0:
            raise DataError(f"image {path} holds float pixels outside [0, 1] (or NaN); save it with values "
                            "in [0, 1], or as 8- or 16-bit PNG")
    else:
        try:
            values = np.asarray(image.convert("L" if grayscale else "RGB"), np.uint8)
        except (ValueError, OSError) as error:
            raise DataError(f"image {path} has PIL mode {mode}, which cannot be read as grayscale or RGB "
                            f"({error}); save it as PNG") from None
    if values.ndim == 2:
        values = values[..., None]
    if not grayscale and values.shape[-1] == 1:
        values = np.repeat(values, 3, axis=-1)
    return values


def to_arrays(images: list[Image.Image], grayscale: bool, paths: list[str]) -> list[np.ndarray]:
    """PIL images → arrays (H, W, C), uint8 or float32 in [0, 1] (see :func:`pixel_array`),
    C = 1 if ``grayscale`` else 3."""
    return [pixel_array(image, grayscale, path) for image, path in zip(images, paths)]


def is_grayscale(images: list[Image.Image]) -> bool:
    """True when every image's PIL mode is a grayscale mode."""
    return all(image.mode in GRAYSCALE_MODES or image.mode.startswith("I;16") for image in images)
