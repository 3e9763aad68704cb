"""TFDS's own fashion_mnist, cifar10 and imagenette builders, prepared offline from fake source files.

Each test writes a few images in the builder's download format (gzipped IDX files; CIFAR-10 binary
batches in a tar.gz; a tree of JPEGs in a .tgz like imagenette's archive) and serves them to TFDS's
download manager the way TFDS's builder tests do (``download_and_extract`` patched), here followed by
TFDS's real extraction. TFDS then runs the builder's real ``_generate_examples`` and writes its default
format (tfrecord, what ``tfds build`` writes); the project reads it back through ``load_dataset`` and the
sweep. Expected images come from the source files, not from the code under test.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import posixpath
import socket
import struct
import tarfile
import urllib.parse

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image
from tensorflow_datasets.image_classification import mnist

from specxai_jax.data import DataError, load_dataset

N_TRAIN, N_TEST = 10, 6
CIFAR_PER_BATCH = 2  # 5 train batches → 10 images
IMAGENETTE_CLASSES = ("n01440764", "n02102040", "n02979186")  # first names of TFDS's imagenette label file
SWEEP = ["--betas", "1,relu", "--seeds", "0", "--max-epochs", "1", "--n-explain", "4", "--batch-size", "8",
         "--width", "2", "--dense", "4", "--no-progress"]


def images_and_labels(seed: int, count: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 images (count, *shape) and labels (index + 2 seed) mod 10; deterministic per seed."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, *shape), dtype=np.uint8), (np.arange(count) + 2 * seed) % 10


def idx_gz(path, array: np.ndarray) -> None:
    """IDX file (magic 0x0000080N for uint8 with N dims, big-endian sizes, raw bytes), gzipped."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as stream:
        stream.write(header + array.tobytes())


def add_file(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def fashion_mnist_sources(folder) -> tuple[dict, dict]:
    """({file name: path} as the builder downloads them, {split: (images (N, 28, 28, 1), labels)})."""
    files, truth = {}, {}
    for seed, (split, prefix, count) in enumerate((("train", "train", N_TRAIN), ("test", "t10k", N_TEST))):
        images, labels = images_and_labels(seed, count, (28, 28))
        for kind, array in ((f"{prefix}-images-idx3-ubyte.gz", images), (f"{prefix}-labels-idx1-ubyte.gz", labels.astype(np.uint8))):
            idx_gz(folder / kind, array)
            files[kind] = folder / kind
        truth[split] = (images[..., None], labels)
    return files, truth


def cifar10_sources(folder) -> tuple[dict, dict]:
    """cifar-10-binary.tar.gz: records of 1 label byte + 3072 bytes (channel-major 32×32×3)."""
    path = folder / "cifar-10-binary.tar.gz"
    truth = {}
    with tarfile.open(path, "w:gz") as archive:
        add_file(archive, "cifar-10-batches-bin/batches.meta.txt", "\n".join(f"class{i}" for i in range(10)).encode())
        batches = [(f"data_batch_{i}.bin", "train", CIFAR_PER_BATCH) for i in range(1, 6)]
        for seed, (name, split, count) in enumerate(batches + [("test_batch.bin", "test", N_TEST)]):
            images, labels = images_and_labels(seed, count, (32, 32, 3))
            records = [bytes([label]) + image.transpose(2, 0, 1).tobytes() for image, label in zip(images, labels)]
            add_file(archive, f"cifar-10-batches-bin/{name}", b"".join(records))
            old = truth.get(split, (np.zeros((0, 32, 32, 3), np.uint8), np.zeros(0, int)))
            truth[split] = (np.concatenate([old[0], images]), np.concatenate([old[1], labels]))
    return {path.name: path}, truth


def imagenette_sources(folder) -> tuple[dict, dict]:
    """imagenette2-160.tgz: imagenette2-160/{train,val}/<wnid>/*.JPEG (4 images 16×12 and 2 of 20×12 each)."""
    path = folder / "imagenette2-160.tgz"
    truth = {}
    with tarfile.open(path, "w:gz") as archive:
        for seed, (split, folder_name) in enumerate((("train", "train"), ("validation", "val"))):
            decoded, labels = [], []
            for index in range(6):
                image = images_and_labels(10 * seed + index, 1, (20 if index % 3 == 2 else 16, 12, 3))[0][0]
                buffer = io.BytesIO()
                Image.fromarray(image).save(buffer, format="JPEG", quality=95)
                label = index % len(IMAGENETTE_CLASSES)
                add_file(archive, f"imagenette2-160/{folder_name}/{IMAGENETTE_CLASSES[label]}/img{seed}_{index}.JPEG",
                         buffer.getvalue())
                decoded.append(np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")))
                labels.append(label)
            truth[split] = (decoded, np.asarray(labels))
    return {path.name: path}, truth


def serve(monkeypatch, files: dict) -> None:
    """Patch TFDS's download manager: each URL's file name → our local file, then TFDS's real extraction."""

    def local(url: str):
        return files[posixpath.basename(urllib.parse.urlparse(url).path)]

    def download_and_extract(self, url_or_urls):
        paths = {key: local(url) for key, url in url_or_urls.items()} if isinstance(url_or_urls, dict) else local(url_or_urls)
        return self.extract(paths)

    monkeypatch.setattr(tfds.download.DownloadManager, "download_and_extract", download_and_extract)


def prepare(tmp_path_factory, name: str, make_sources) -> tuple[str, dict]:
    """(data dir, truth): ``name`` prepared by its TFDS builder in TFDS's default file format."""
    folder = tmp_path_factory.mktemp(name.split("/")[0])
    files, truth = make_sources(folder)
    with pytest.MonkeyPatch.context() as patch:
        serve(patch, files)
        patch.setattr(mnist, "_TRAIN_EXAMPLES", N_TRAIN)  # the builder reads exactly this many (TFDS's own test does the same)
        patch.setattr(mnist, "_TEST_EXAMPLES", N_TEST)
        builder = tfds.builder(name, data_dir=str(folder / "data"))
        assert type(builder).__module__.startswith(("tensorflow_datasets.image_classification.",
                                                    "tensorflow_datasets.datasets."))  # TFDS's own builder class
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(compute_stats=tfds.download.ComputeStatsMode.SKIP))
    assert builder.info.file_format == tfds.core.FileFormat.TFRECORD
    return str(folder / "data"), truth


@pytest.fixture(scope="module")
def fashion_dir(tmp_path_factory):
    return prepare(tmp_path_factory, "fashion_mnist", fashion_mnist_sources)


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    return prepare(tmp_path_factory, "cifar10", cifar10_sources)


@pytest.fixture(scope="module")
def imagenette_dir(tmp_path_factory):
    return prepare(tmp_path_factory, "imagenette/160px-v2", imagenette_sources)


def assert_same_examples(x: np.ndarray, y: np.ndarray, images, labels) -> None:
    """The loaded (x, y) are the source's examples in some order, each with its own label."""
    assert len(x) == len(images)
    flat = np.stack([np.asarray(i, np.float32).ravel() / 255 for i in images])
    distance = ((x.reshape(len(x), -1)[:, None] - flat[None]) ** 2).mean(-1)
    match = distance.argmin(axis=1)
    assert sorted(match) == list(range(len(images)))
    np.testing.assert_allclose(x.reshape(len(x), -1), flat[match], atol=1e-6)
    np.testing.assert_array_equal(y, np.asarray(labels)[match])


@pytest.mark.parametrize("fixture", ["fashion_dir", "cifar_dir"])
def test_builders_prepared_from_fake_sources_load_exactly(fixture, request):
    data_dir, truth = request.getfixturevalue(fixture)
    name = {"fashion_dir": "fashion_mnist", "cifar_dir": "cifar10"}[fixture]
    ds = load_dataset(f"tfds:{name}", data_dir=data_dir)
    assert ds.num_classes == 10 and ds.x_train.shape[1:] == truth["train"][0].shape[1:]
    assert_same_examples(ds.x_train, ds.y_train, *truth["train"])  # PNG inside TFDS is lossless
    assert_same_examples(ds.x_test, ds.y_test, *truth["test"])


def test_imagenette_builder_reads_the_jpeg_tree(imagenette_dir):
    data_dir, truth = imagenette_dir
    ds = load_dataset("tfds:imagenette/160px-v2", data_dir=data_dir)  # no test split: validation is the test set
    assert ds.num_classes == 10 and ds.x_train.shape == (6, 16, 12, 3) and ds.x_test.shape == (6, 16, 12, 3)
    images, labels = truth["validation"]
    native = [i for i, image in enumerate(images) if image.shape[:2] == (16, 12)]
    for i in native:  # the archive's JPEG bytes, decoded by PIL in both places
        row = int(np.argmin([np.abs(x * 255 - images[i]).max() for x in ds.x_test]))
        assert np.abs(ds.x_test[row] * 255 - images[i]).max() < 1e-3 and ds.y_test[row] == labels[i]
    assert sorted(ds.y_test.tolist()) == sorted(labels.tolist())


@pytest.mark.filterwarnings("ignore:.*never occur in the train split")
def test_split_choice(fashion_dir):
    data_dir, truth = fashion_dir
    ds = load_dataset("tfds:fashion_mnist", data_dir=data_dir, split="test[:4],test[4:]")
    assert ds.x_train.shape[0] == 4 and ds.x_test.shape[0] == N_TEST - 4
    both = np.concatenate([ds.x_train, ds.x_test])
    assert_same_examples(both, np.concatenate([ds.y_train, ds.y_test]), *truth["test"])
    with pytest.raises(DataError, match="has no split 'valid'") as info:
        load_dataset("tfds:fashion_mnist", data_dir=data_dir, split="valid")
    assert "\n" not in str(info.value) and "train" in str(info.value)
    with pytest.raises(DataError, match="tfds: datasets only"):
        load_dataset("synthetic", split="test")


def read_results(out) -> list[dict]:
    with open(out / "results.csv", newline="") as stream:
        return list(csv.DictReader(stream))


@pytest.mark.filterwarnings("ignore::specxai_jax.stats.SpecxaiWarning")  # tiny nets: dead maps
def test_sweep_on_a_tfds_prepared_fashion_mnist(fashion_dir, tmp_path):
    from specxai_jax.cli import sweep_beta

    data_dir, _ = fashion_dir
    out = tmp_path / "sweep"
    sweep_beta.main(["--dataset", "tfds:fashion_mnist", "--data-dir", data_dir, "--depth", "1", "--img-size", "8",
                     *SWEEP, "--out", str(out)])
    rows = read_results(out)
    assert [r["beta"] for r in rows] == ["1.0", "inf"] and all(int(r["n_images"]) == 4 for r in rows)

    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    config = json.loads((out / "config.json").read_text(), parse_constant=refuse)  # standard JSON only
    assert config["betas"] == [1.0, "inf"] and config["data_dir"] == data_dir and config["split"] is None
    assert "git_commit" in config["environment"]


@pytest.mark.slow  # the fashion_mnist sweep above runs a prepared TFDS dir end to end by default
@pytest.mark.filterwarnings("ignore::specxai_jax.stats.SpecxaiWarning")  # tiny nets: dead maps
def test_cifar10_preset_on_a_tfds_prepared_dir(cifar_dir, tmp_path):
    from specxai_jax.cli import sweep_beta

    data_dir, _ = cifar_dir
    out = tmp_path / "sweep"
    sweep_beta.main(["--preset", "cifar10", "--data-dir", data_dir, "--img-size", "16", *SWEEP, "--out", str(out)])
    assert len(read_results(out)) == 2 and int(read_results(out)[0]["n_images"]) == 4
    config = json.loads((out / "config.json").read_text())
    assert (config["dataset"], config["lr"], config["depth"], config["data_dir"]) == ("tfds:cifar10", 3e-3, 4, data_dir)


def offline(monkeypatch) -> None:
    """Name resolution fails, as on a machine without network."""

    def no_network(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)


@pytest.mark.parametrize("name, source", [("fashion_mnist", "train-images-idx3-ubyte.gz"),
                                          ("cifar10", "cifar-10-binary.tar.gz"),
                                          ("imagenette/160px-v2", "imagenette2-160.tgz")])
def test_offline_with_nothing_prepared_is_one_line(name, source, tmp_path, monkeypatch):
    offline(monkeypatch)
    with pytest.raises(DataError) as info:
        load_dataset(f"tfds:{name}", data_dir=str(tmp_path))
    message = str(info.value)
    assert "\n" not in message and f"not in the data dir {tmp_path}" in message
    assert f"specxai-prepare {name} --data-dir {tmp_path}" in message
    assert f"{source}" in message and str(tmp_path / "downloads" / "manual") in message
    assert "imagenette2-320" not in message  # only the archive of the chosen config


def test_wrapped_download_error_is_unwrapped(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: [])

    def fail(self, url_or_urls):
        try:
            raise ConnectionResetError("connection reset by peer")
        except ConnectionResetError as error:
            raise RuntimeError("Failed to download\nmany lines of context") from error

    monkeypatch.setattr(tfds.download.DownloadManager, "download_and_extract", fail)
    with pytest.raises(DataError, match="ConnectionResetError: connection reset by peer") as info:
        load_dataset("tfds:cifar10", data_dir=str(tmp_path))
    assert "\n" not in str(info.value) and "specxai-prepare cifar10" in str(info.value)


@pytest.mark.filterwarnings("ignore:.*never occur in the train split")
def test_prepare_command_runs_the_real_builder(tmp_path, monkeypatch, capsys):
    from specxai_jax.cli import prepare

    files, truth = cifar10_sources(tmp_path)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: [])  # "online"; downloads are served locally
    serve(monkeypatch, files)
    assert prepare.main(["tfds:cifar10", "--data-dir", str(tmp_path / "data")]) == 0
    assert "tfds:cifar10 is prepared in" in capsys.readouterr().out
    builder = tfds.builder("cifar10", data_dir=str(tmp_path / "data"))
    assert builder.info.file_format == tfds.core.FileFormat.ARRAY_RECORD
    ds = load_dataset("tfds:cifar10", data_dir=str(tmp_path / "data"), max_train=4, seed=1)
    assert ds.x_train.shape == (4, 32, 32, 3)
    assert_same_examples(ds.x_test, ds.y_test, *truth["test"])


def test_wrapped_missing_tensorflow_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: [])

    def fail(self, url_or_urls):
        try:
            raise ModuleNotFoundError("No module named 'tensorflow'", name="tensorflow")
        except ImportError as error:
            raise RuntimeError("Failed to construct dataset cifar10") from error

    monkeypatch.setattr(tfds.download.DownloadManager, "download_and_extract", fail)
    with pytest.raises(DataError, match="needs TensorFlow.*pip install tensorflow-cpu"):
        load_dataset("tfds:cifar10", data_dir=str(tmp_path))
