"""``tfds:NAME`` — TensorFlow Datasets, read without TensorFlow when stored in a random-access format.

Data prepared as array_record or parquet is read through TFDS data sources (``builder.as_data_source``,
what ``tfds.data_source`` uses); only the selected examples are decoded. Data prepared only as tfrecord
is read through ``tfds.as_numpy(builder.as_dataset(...))``, which needs TensorFlow. Data not prepared
yet is downloaded and prepared as array_record (this needs network access, and TensorFlow for datasets
whose images TFDS must encode itself, e.g. fashion_mnist and cifar10).
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from specxai_jax.data.errors import DataError
from specxai_jax.data.subset import subset_indices

TRAIN_SPLIT = "train"
EVAL_SPLITS = ("test", "validation")


def first_line(error: BaseException) -> str:
    """``Type: first line of the message`` of an exception."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def is_missing_tensorflow(error: BaseException) -> bool:
    """True when ``error`` says the tensorflow module cannot be imported."""
    return isinstance(error, ImportError) and (getattr(error, "name", None) or "").split(".")[0] == "tensorflow"


def prepare_command(name: str, data_dir: str | None) -> str:
    """The one-line shell command that prepares ``name`` as array_record."""
    target = f", data_dir='{data_dir}'" if data_dir else ""
    return (f"python -c \"import tensorflow_datasets as tfds; "
            f"tfds.builder('{name}'{target}).download_and_prepare(file_format='array_record')\"")


def get_builder(name: str, data_dir: str | None):
    """The TFDS builder of ``name``, downloaded and prepared as array_record if it is not prepared yet."""
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as error:
        raise DataError(f"tfds:{name} is not a known TFDS dataset ({first_line(error)}); check the name "
                        "at https://www.tensorflow.org/datasets/catalog or pass data_dir where it is prepared") from None
    if builder.is_prepared():
        return builder
    try:
        builder.download_and_prepare(file_format="array_record")
    except Exception as error:  # network, missing TensorFlow, disk: all end in the same advice
        needs = "; it needs TensorFlow to encode the images: pip install tensorflow-cpu" if is_missing_tensorflow(error) else ""
        raise DataError(f"tfds:{name} is not prepared in {data_dir or '~/tensorflow_datasets'} and preparing it failed "
                        f"({first_line(error)}){needs}; prepare it once with network access: "
                        f"{prepare_command(name, data_dir)}") from None
    return builder


def feature_keys(builder) -> tuple[str, str]:
    """(image key, label key) from the builder's supervised keys, else ("image", "label")."""
    keys = builder.info.supervised_keys or ("image", "label")
    features = builder.info.features
    if not (isinstance(keys, tuple) and len(keys) == 2 and all(k in features for k in keys)
            and isinstance(features[keys[0]], tfds.features.Image)):
        raise DataError(f"tfds:{builder.name} has no (image, label) supervised keys; it is not an image classification dataset")
    return keys


def read_data_source(builder, split: str, indices: np.ndarray, keys: tuple[str, str]) -> tuple[list, np.ndarray]:
    """Examples ``indices`` of ``split`` through a TFDS random-access data source (no TensorFlow)."""
    source = builder.as_data_source(split=split)
    records = source.__getitems__([int(i) for i in indices])
    return [np.asarray(r[keys[0]]) for r in records], np.asarray([r[keys[1]] for r in records])


def read_with_tensorflow(builder, split: str, indices: np.ndarray, keys: tuple[str, str]) -> tuple[list, np.ndarray]:
    """Examples ``indices`` of ``split`` through ``tfds.as_numpy`` (needs TensorFlow)."""
    wanted = {int(index): position for position, index in enumerate(indices)}
    images, labels = [None] * len(indices), np.zeros(len(indices), np.int64)
    try:
        dataset = tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))
        for index, example in enumerate(dataset):
            if index in wanted:
                images[wanted[index]], labels[wanted[index]] = np.asarray(example[keys[0]]), example[keys[1]]
    except ImportError as error:
        if not is_missing_tensorflow(error):
            raise
        raise DataError(f"tfds:{builder.name} is stored as {builder.info.file_format.value}, which needs TensorFlow "
                        "to read: pip install tensorflow-cpu, or prepare it again with file_format='array_record'") from None
    return images, labels


def load_tfds(name: str, data_dir: str | None, seed: int, max_train: int | None,
              max_test: int | None) -> tuple[dict, int]:
    """({"train": (images, labels), "test": (images, labels)}, num_classes); images are arrays (H, W, C)."""
    builder = get_builder(name, data_dir)
    splits = builder.info.splits
    eval_split = next((s for s in EVAL_SPLITS if s in splits), None)
    if TRAIN_SPLIT not in splits or eval_split is None:
        raise DataError(f"tfds:{name} has splits {', '.join(splits)}; expected 'train' and 'test' (or 'validation')")
    keys = feature_keys(builder)
    random_access = builder.info.available_file_formats() & tfds.core.FileFormat.with_random_access()
    read = read_data_source if random_access else read_with_tensorflow
    out = {}
    for stream, (split, limit, ours) in enumerate(((TRAIN_SPLIT, max_train, "train"), (eval_split, max_test, "test"))):
        count = splits[split].num_examples
        if count == 0:
            raise DataError(f"tfds:{name} split {split!r} is empty; prepare the dataset again")
        out[ours] = read(builder, split, subset_indices(count, limit, seed, stream), keys)
    num_classes = getattr(builder.info.features[keys[1]], "num_classes", None)
    return out, num_classes
