"""``tfds:NAME`` — TensorFlow Datasets, prepared by TFDS's own builders and read from a data dir.

Data prepared as array_record or parquet is read through TFDS data sources (``builder.as_data_source``,
what ``tfds.data_source`` uses); only the selected examples are decoded. Data prepared as tfrecord, TFDS's
default format (what ``tfds build`` writes), is read through ``tfds.as_numpy(builder.as_dataset(...))``
with TensorFlow. Data not prepared yet is downloaded and prepared as array_record; offline, the error
says how to get it into the data dir.
"""

from __future__ import annotations

import socket
import urllib.parse
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from specxai_jax.data.subset import subset_indices
from specxai_jax.errors import DataError

TRAIN_SPLIT = "train"
EVAL_SPLITS = ("test", "validation")


def first_line(error: BaseException) -> str:
    """``Type: first line of the message`` of an exception."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def causes(error: BaseException) -> list[BaseException]:
    """``error`` and every exception it wraps (``__cause__`` / ``__context__``), outermost first."""
    chain: list[BaseException] = []
    link: BaseException | None = error
    while link is not None and link not in chain:
        chain.append(link)
        link = link.__cause__ or link.__context__
    return chain


def is_missing_tensorflow(error: BaseException) -> bool:
    """True when ``error`` or an exception it wraps says the tensorflow module cannot be imported."""
    return any(isinstance(e, ImportError) and (getattr(e, "name", None) or "").split(".")[0] == "tensorflow"
               for e in causes(error))


def root_cause(error: BaseException) -> BaseException:
    """The innermost wrapped exception (TFDS re-raises download and generation errors wrapped)."""
    return causes(error)[-1]


def source_files(builder) -> dict[str, str]:
    """{url: file name} of the source files TFDS's checksums list for this builder (its config's only)."""
    infos = builder.url_infos or {}
    files = {url: info.filename or Path(urllib.parse.urlparse(url).path).name for url, info in infos.items()}
    stem = getattr(builder.builder_config, "dirname", None)  # imagenette: one archive per config
    if stem and any(name.split(".")[0] == stem for name in files.values()):
        files = {url: name for url, name in files.items() if name.split(".")[0] == stem}
    return files


def manual_dir(builder) -> Path:
    """TFDS's manual-download directory: source files placed there are used instead of downloading."""
    return Path(builder.data_dir_root) / "downloads" / "manual"


def how_to_get(builder, name: str, reason: str) -> str:
    """One line: the dataset is not in the data dir (``reason``), and the ways to put it there."""
    root = builder.data_dir_root
    advice = f"get it there with network access: specxai-prepare {name} --data-dir {root}"
    files = sorted(set(source_files(builder).values()))
    if files:
        advice += f", or copy its source file{'s' if len(files) > 1 else ''} {', '.join(files)} into {manual_dir(builder)}"
    return f"tfds:{name} is not in the data dir {root} ({reason}); {advice} (then rerun)"


def unreachable_hosts(builder) -> list[str]:
    """Hosts of the source files not in the manual dir whose names do not resolve (no network)."""
    present = manual_dir(builder)
    hosts = {urllib.parse.urlparse(url).hostname for url, name in source_files(builder).items()
             if not (present / name).exists()}
    missing = []
    for host in sorted(h for h in hosts if h):
        try:
            socket.getaddrinfo(host, None)
        except OSError:
            missing.append(host)
    return missing


def get_builder(name: str, data_dir: str | None):
    """The TFDS builder of ``name``, downloaded and prepared as array_record if it is not prepared yet."""
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as error:
        raise DataError(f"tfds:{name} is not a known TFDS dataset ({first_line(error)}); check the name "
                        "at https://www.tensorflow.org/datasets/catalog or pass data_dir where it is prepared") from None
    except ValueError as error:  # TFDS refuses a malformed name with a multi-line ValueError
        raise DataError(f"{name!r} is not a TFDS dataset name ({first_line(error)}); write NAME[/CONFIG][:VERSION] "
                        "such as mnist or cifar10") from None
    if builder.is_prepared():
        return builder
    offline = unreachable_hosts(builder)
    if offline:  # TFDS would retry each download for minutes before giving up
        raise DataError(how_to_get(builder, name, f"no network: cannot resolve {', '.join(offline)}"))
    try:
        builder.download_and_prepare(file_format="array_record")
    except Exception as error:  # TFDS wraps what failed (network, TensorFlow, disk): report the root cause
        if is_missing_tensorflow(error):
            raise DataError(f"tfds:{name}: TFDS needs TensorFlow to prepare it; install this package as the "
                            "README says (pip install -e .), or: pip install tensorflow-cpu") from None
        raise DataError(how_to_get(builder, name, f"preparing it failed: {first_line(root_cause(error))}")) from None
    return builder


def choose_splits(name: str, builder, split: str | None) -> tuple[str, str]:
    """(train split, evaluation split) from ``split`` ("EVAL" or "TRAIN,EVAL"; TFDS slicing allowed).

    Default: "train" and the first of "test", "validation" the dataset has.
    """
    available = builder.info.splits
    if split is None:
        eval_split = next((s for s in EVAL_SPLITS if s in available), None)
        if TRAIN_SPLIT not in available or eval_split is None:
            raise DataError(f"tfds:{name} has splits {', '.join(available)}; expected 'train' and 'test' (or "
                            "'validation'), or choose them with --split TRAIN,EVAL")
        return TRAIN_SPLIT, eval_split
    parts = [part.strip() for part in split.split(",")]
    if len(parts) > 2 or not all(parts):
        raise DataError(f"split {split!r} is invalid; use EVAL or TRAIN,EVAL, e.g. validation or train,test")
    chosen = (TRAIN_SPLIT, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    for part in chosen:
        try:
            available[part].num_examples
        except (KeyError, ValueError, AssertionError) as error:
            raise DataError(f"tfds:{name} has no split {part!r} ({first_line(error)}); "
                            f"its splits are {', '.join(available)}") from None
    return chosen


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


def keep_tensorflow_off_accelerators() -> None:
    """TensorFlow only reads files here; hide GPUs from it so it takes no accelerator memory from JAX
    (what TFDS advises when feeding JAX). A no-op once TensorFlow has initialized its devices."""
    import tensorflow as tf

    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:
        pass


def read_with_tensorflow(builder, split: str, indices: np.ndarray, keys: tuple[str, str]) -> tuple[list, np.ndarray]:
    """Examples ``indices`` of ``split`` through ``tfds.as_numpy`` (needs TensorFlow).

    Images stay encoded while the split streams by; only the selected ones are decoded (as TFDS's data
    sources decode them).
    """
    wanted = {int(index): position for position, index in enumerate(indices)}
    images, labels = [None] * len(indices), np.zeros(len(indices), np.int64)
    feature = builder.info.features[keys[0]]
    try:
        keep_tensorflow_off_accelerators()
        dataset = tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False,
                                                   decoders={keys[0]: tfds.decode.SkipDecoding()}))
        for index, example in enumerate(dataset):
            if index in wanted:
                images[wanted[index]] = feature.decode_example_np(example[keys[0]])
                labels[wanted[index]] = example[keys[1]]
    except Exception as error:
        if not is_missing_tensorflow(error):
            raise
        raise DataError(f"tfds:{builder.name} is stored as {builder.info.file_format.value}, which needs TensorFlow "
                        "to read; install this package as the README says (pip install -e .), or: "
                        "pip install tensorflow-cpu") from None
    return images, labels


def load_tfds(name: str, data_dir: str | None, seed: int, max_train: int | None,
              max_test: int | None, split: str | None = None
              ) -> tuple[dict[str, tuple[list, np.ndarray]], int | None]:
    """({"train": (images, labels), "test": (images, labels)}, num_classes); images are arrays (H, W, C);
    num_classes is None when the label feature does not declare it (the labels then decide).

    ``split``: the evaluation split ("EVAL") or both ("TRAIN,EVAL"); see :func:`choose_splits`.
    """
    builder = get_builder(name, data_dir)
    chosen = choose_splits(name, builder, split)
    keys = feature_keys(builder)
    random_access = builder.info.available_file_formats() & tfds.core.FileFormat.with_random_access()
    read = read_data_source if random_access else read_with_tensorflow
    out: dict[str, tuple[list, np.ndarray]] = {}
    for stream, (source, limit, ours) in enumerate(zip(chosen, (max_train, max_test), ("train", "test"))):
        count = builder.info.splits[source].num_examples
        if count == 0:
            raise DataError(f"tfds:{name} split {source!r} is empty; prepare the dataset again")
        out[ours] = read(builder, source, subset_indices(count, limit, seed, stream), keys)
    num_classes = getattr(builder.info.features[keys[1]], "num_classes", None)
    return out, num_classes
