"""Bad specs, arguments and array contents: each a DataError with one line that names the problem."""

import numpy as np
import pytest

from specxai_jax.data import DataError, Dataset, DatasetSpec, load_dataset, parse_spec


def good_arrays():
    rng = np.random.default_rng(0)
    return {"x_train": rng.integers(0, 256, (6, 5, 5), dtype=np.uint8), "y_train": np.array([0, 1, 2, 0, 1, 2]),
            "x_test": rng.integers(0, 256, (3, 5, 5), dtype=np.uint8), "y_test": np.array([0, 1, 2])}


def spoil(arrays, case):
    """Apply one defect to a copy of ``arrays``."""
    a = dict(arrays)
    if case == "missing":
        del a["y_test"]
    elif case == "lengths":
        a["y_train"] = a["y_train"][:4]
    elif case == "ndim":
        a["x_test"] = a["x_test"][0]
    elif case == "labels_ndim":
        a["y_train"] = a["y_train"][:, None]
    elif case == "nan":
        a["x_train"] = a["x_train"] / 255.0
        a["x_train"][2, 1, 1] = np.nan
    elif case == "range":
        a["x_train"] = a["x_train"].astype(np.float32)
    elif case == "dtype":
        a["x_train"] = a["x_train"].astype(np.int16)
    elif case == "fractional":
        a["y_test"] = np.array([0.0, 0.5, 1.0])
    elif case == "negative":
        a["y_train"] = a["y_train"] - 1
    elif case == "string_labels":
        a["y_train"] = np.array(list("abcabc"))
    elif case == "empty":
        a["x_test"], a["y_test"] = a["x_test"][:0], a["y_test"][:0]
    elif case == "single_class":
        a["y_train"] = np.zeros(6, int)
        a["y_test"] = np.zeros(3, int)
    elif case == "train_single_class":
        a["y_train"] = np.full(6, 2)
    elif case == "sizes":
        a["x_test"] = np.zeros((3, 7, 7), np.uint8)
    return a


@pytest.mark.parametrize("case,fragment", [
    ("missing", r"lacks array\(s\) y_test"),
    ("lengths", "has 4 labels but there are 6 images"),
    ("ndim", "expected images N×H×W×C"),
    ("labels_ndim", "expected one integer class index per image"),
    ("nan", "1 non-finite pixels"),
    ("range", r"outside \[0, 1\]; divide by 255"),
    ("dtype", "dtype int16"),
    ("fractional", "non-integer values"),
    ("negative", "negative label -1"),
    ("string_labels", "labels must be integer"),
    ("empty", "x_test is empty"),
    ("single_class", "needs at least 2 classes"),
    ("train_single_class", "train split holds a single class"),
    ("sizes", "store both splits at one size"),
])
def test_bad_npz_contents(tmp_path, case, fragment):
    path = tmp_path / "bad.npz"
    np.savez(path, **spoil(good_arrays(), case))
    with pytest.raises(DataError, match=fragment) as info:
        load_dataset(f"npz:{path}")
    assert "\n" not in str(info.value)


def test_good_arrays_load_and_validation_is_not_vacuous(tmp_path):
    np.savez(tmp_path / "good.npz", **good_arrays())
    assert load_dataset(f"npz:{tmp_path / 'good.npz'}").num_classes == 3


@pytest.mark.parametrize("content,fragment", [(None, "no such file"), (b"not a zip", "not a readable .npz")])
def test_npz_path_problems(tmp_path, content, fragment):
    path = tmp_path / "x.npz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=fragment):
        load_dataset(f"npz:{path}")


@pytest.mark.parametrize("spec,fragment", [
    ("", "empty dataset spec"),
    ("mnist", "unknown dataset 'mnist'"),
    ("hdf5:/x.h5", "unknown dataset"),
    ("npz:", "lacks a path"),
    ("tfds: ", "lacks a TFDS dataset name"),
    ("synthetic:size=64,foo=1", "unknown synthetic option 'foo'"),
])
def test_bad_specs(spec, fragment):
    with pytest.raises(DataError, match=fragment) as info:
        parse_spec(spec)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_good_specs_parse():
    assert parse_spec("synthetic") == DatasetSpec("synthetic")
    assert dict(parse_spec(" synthetic:size=64, classes=4 ").options) == {"size": 64, "classes": 4}
    assert parse_spec("tfds:imagenette/160px-v2") == DatasetSpec("tfds", "imagenette/160px-v2")
    assert parse_spec("npz:/data/a:b.npz") == DatasetSpec("npz", "/data/a:b.npz")


@pytest.mark.parametrize("kwargs,fragment", [
    ({"img_size": 0}, "image size 0"),
    ({"img_size": 2.5}, "image size 2.5"),
    ({"max_train": 0}, "positive integer"),
    ({"max_test": -3}, "positive integer"),
])
def test_bad_arguments(kwargs, fragment):
    with pytest.raises(DataError, match=fragment):
        load_dataset("synthetic", **kwargs)


def make(**changes):
    fields = {"name": "t", "x_train": np.zeros((4, 3, 3, 1), np.float32), "y_train": np.array([0, 1, 0, 1], np.int32),
              "x_test": np.zeros((2, 3, 3, 1), np.float32), "y_test": np.array([0, 1], np.int32), "num_classes": 2}
    return Dataset(**{**fields, **changes})


@pytest.mark.parametrize("changes,fragment", [
    ({"num_classes": 1}, "at least 2 classes"),
    ({"y_test": np.array([0, 2], np.int32)}, r"outside \[0, 2\)"),
    ({"x_train": np.full((4, 3, 3, 1), 1.5, np.float32)}, r"lie in \[0, 1\]"),
    ({"x_train": np.zeros((4, 3, 3, 1), np.float64)}, "float32"),
    ({"y_train": np.array([0, 1, 0], np.int32)}, "labels must be int32 of shape"),
])
def test_dataset_checks_its_invariants(changes, fragment):
    make()  # the unchanged fields are valid
    with pytest.raises(DataError, match=fragment):
        make(**changes)
