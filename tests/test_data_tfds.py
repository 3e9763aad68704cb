"""tfds: a tiny dataset prepared through TFDS itself in each file format TFDS writes (no network)."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from specxai_jax.data import DataError, load_dataset

SIZE, CLASSES, N_TRAIN, N_TEST = 12, 3, 24, 9


def tiny_split(seed: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 images (count, SIZE, SIZE, 3) and cycling labels; deterministic per seed."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, SIZE, SIZE, 3), dtype=np.uint8), np.arange(count) % CLASSES


class SpecxaiTinyImages(tfds.core.GeneratorBasedBuilder):
    """Registered by TFDS as ``specxai_tiny_images``; images passed as PIL so TFDS encodes them without TF."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        features = tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(SIZE, SIZE, 3)),
            "label": tfds.features.ClassLabel(num_classes=CLASSES),
        })
        return tfds.core.DatasetInfo(builder=self, features=features, supervised_keys=("image", "label"))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(0, N_TRAIN), "test": self._generate_examples(1, N_TEST)}

    def _generate_examples(self, seed, count):
        images, labels = tiny_split(seed, count)
        for index in range(count):
            yield index, {"image": Image.fromarray(images[index]), "label": int(labels[index])}


class SpecxaiOfflineImages(SpecxaiTinyImages):
    """Its 'download' fails the way an offline machine does."""

    def _split_generators(self, dl_manager):
        raise ConnectionError("network is unreachable")


def prepare_tiny_tfds(data_dir, file_format: str = "array_record") -> str:
    """Prepare ``specxai_tiny_images`` under ``data_dir`` in ``file_format``; returns its spec."""
    SpecxaiTinyImages(data_dir=str(data_dir), file_format=file_format).download_and_prepare()
    return "tfds:specxai_tiny_images"


def assert_matches_source(ds) -> None:
    """Each loaded image is one generated image (TFDS stores its own order); labels follow the image."""
    for seed, x, y in ((0, ds.x_train, ds.y_train), (1, ds.x_test, ds.y_test)):
        images, labels = tiny_split(seed, x.shape[0])
        flat = images.reshape(len(images), -1).astype(np.float32) / 255
        match = np.argmin(((x.reshape(len(x), -1)[:, None] - flat[None]) ** 2).sum(-1), axis=1)
        assert sorted(match) == list(range(len(images)))
        np.testing.assert_allclose(x, images[match] / 255, atol=1e-6)  # PNG is lossless
        np.testing.assert_array_equal(y, labels[match])


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    prepare_tiny_tfds(data_dir)
    return data_dir


def test_tfds_loads_the_arrays_it_was_given(tiny_dir):
    ds = load_dataset("tfds:specxai_tiny_images", data_dir=str(tiny_dir))
    assert ds.name == "tfds:specxai_tiny_images" and ds.num_classes == CLASSES
    assert ds.x_train.shape == (N_TRAIN, SIZE, SIZE, 3) and ds.x_test.shape == (N_TEST, SIZE, SIZE, 3)
    assert_matches_source(ds)


def test_tfds_parquet_is_read_without_tensorflow(tmp_path):
    spec = prepare_tiny_tfds(tmp_path, "parquet")
    assert_matches_source(load_dataset(spec, data_dir=str(tmp_path)))


@pytest.mark.slow  # TFDS's real builders are prepared as tfrecord and read back in test_data_tfds_builders.py
def test_tfds_tfrecord_is_read_with_tensorflow(tmp_path):
    spec = prepare_tiny_tfds(tmp_path, "tfrecord")
    assert_matches_source(load_dataset(spec, data_dir=str(tmp_path)))


def test_tfds_subset_and_resize(tiny_dir):
    full = load_dataset("tfds:specxai_tiny_images", data_dir=str(tiny_dir))
    a = load_dataset("tfds:specxai_tiny_images", data_dir=str(tiny_dir), max_train=5, max_test=4, seed=3)
    b = load_dataset("tfds:specxai_tiny_images", data_dir=str(tiny_dir), max_train=5, max_test=4, seed=3)
    assert a.x_train.shape[0] == 5 and a.x_test.shape[0] == 4
    np.testing.assert_array_equal(a.x_train, b.x_train)
    rows = [np.flatnonzero((full.x_train == image).all(axis=(1, 2, 3)))[0] for image in a.x_train]
    np.testing.assert_array_equal(a.y_train, full.y_train[rows])
    small = load_dataset("tfds:specxai_tiny_images", data_dir=str(tiny_dir), img_size=6)
    assert small.x_train.shape == (N_TRAIN, 6, 6, 3)
    # Halving with a normalized kernel keeps each image's mean brightness (up to edge weighting).
    np.testing.assert_allclose(small.x_train.mean(axis=(1, 2)), full.x_train.mean(axis=(1, 2)), atol=0.05)


def test_tfds_loads_in_a_process_that_never_saw_the_builder(tiny_dir):
    code = ("from specxai_jax.data import load_dataset; "
            f"d = load_dataset('tfds:specxai_tiny_images', data_dir={str(tiny_dir)!r}); "
            "print(d.x_train.shape, d.num_classes)")
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"({N_TRAIN}, {SIZE}, {SIZE}, 3) {CLASSES}" in done.stdout


def test_tfds_unknown_name_is_one_line():
    with pytest.raises(DataError, match="not a known TFDS dataset") as info:
        load_dataset("tfds:no_such_dataset_anywhere")
    assert "\n" not in str(info.value)


def test_tfds_failed_preparation_says_how_to_get_the_data(tmp_path):
    with pytest.raises(DataError, match=f"prepare specxai_offline_images --data-dir {tmp_path}") as info:
        load_dataset("tfds:specxai_offline_images", data_dir=str(tmp_path))
    message = str(info.value)
    assert "\n" not in message and "ConnectionError: network is unreachable" in message


@pytest.mark.filterwarnings("ignore:.*never occur in the train split")
def test_tfds_split_choice_slices_one_split(tiny_dir):
    ds = load_dataset("tfds:specxai_tiny_images", data_dir=str(tiny_dir), split="train[:20],train[20:]")
    assert ds.x_train.shape[0] == 20 and ds.x_test.shape[0] == N_TRAIN - 20
    images, labels = tiny_split(0, N_TRAIN)
    both = np.concatenate([ds.x_train, ds.x_test]).reshape(N_TRAIN, -1)
    match = np.argmin(((both[:, None] - images.reshape(N_TRAIN, -1)[None] / 255) ** 2).sum(-1), axis=1)
    assert sorted(match) == list(range(N_TRAIN))  # the train split, divided between the two
    np.testing.assert_array_equal(np.concatenate([ds.y_train, ds.y_test]), labels[match])
