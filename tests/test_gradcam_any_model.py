"""GradCAM and Guided GradCAM on one CNN written three ways: a Flax linen module (the reference, checked
against Captum in test_explain_methods), the same network as an NNX module with the same weights, and a
plain function ``f(params, x)`` with ``features=``/``head=``. All three give the same maps."""

from __future__ import annotations

import sys
import types

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from specxai_jax.attribution import explain
from specxai_jax.errors import UsageError

X = jax.random.uniform(jax.random.key(1), (3, 8, 8, 3))
TARGET = jnp.array([0, 2, 1])


class LinenCNN(nn.Module):
    """conv → relu → pool → conv (the GradCAM layer) → relu → dense → relu → dense."""

    def setup(self):
        self.convs = [nn.Conv(4, (3, 3), padding="SAME"), nn.Conv(6, (3, 3), padding="SAME")]
        self.dense = nn.Dense(5)
        self.out = nn.Dense(3)

    def features(self, x):
        x = nn.max_pool(nn.relu(self.convs[0](x)), (2, 2), strides=(2, 2))
        return self.convs[1](x)

    def classify(self, a):
        return self.out(nn.relu(self.dense(nn.relu(a).reshape(a.shape[0], -1))))

    def __call__(self, x):
        return self.classify(self.features(x))


class NNXCNN(nnx.Module):
    """LinenCNN in NNX, its layers in an ``nnx.List`` (paths "convs.0", "convs.1")."""

    def __init__(self, params):
        rngs = nnx.Rngs(0)
        self.convs = nnx.List([nnx.Conv(3, 4, (3, 3), padding="SAME", rngs=rngs),
                               nnx.Conv(4, 6, (3, 3), padding="SAME", rngs=rngs)])
        self.dense = nnx.Linear(4 * 4 * 6, 5, rngs=rngs)
        self.out = nnx.Linear(5, 3, rngs=rngs)
        layers = [*self.convs, self.dense, self.out]
        for layer, name in zip(layers, ["convs_0", "convs_1", "dense", "out"]):
            layer.kernel.set_value(params[name]["kernel"])
            layer.bias.set_value(params[name]["bias"])

    def __call__(self, x):
        x = nnx.max_pool(nnx.relu(self.convs[0](x)), (2, 2), strides=(2, 2))
        a = self.convs[1](x)
        return self.out(nnx.relu(self.dense(nnx.relu(a).reshape(a.shape[0], -1))))


@pytest.fixture(scope="module")
def forms():
    linen = LinenCNN()
    variables = linen.init(jax.random.key(0), X[:1])
    params = variables["params"]
    return types.SimpleNamespace(
        linen=linen, variables=variables, params=params, nnx=NNXCNN(params),
        f=lambda p, x: linen.apply({"params": p}, x),
        features=lambda p, x: linen.apply({"params": p}, x, method=LinenCNN.features),
        head=lambda p, a: linen.apply({"params": p}, a, method=LinenCNN.classify))


def test_the_three_forms_compute_the_same_logits(forms):
    expected = forms.linen.apply(forms.variables, X)
    np.testing.assert_allclose(forms.nnx(X), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(forms.head(forms.params, forms.features(forms.params, X)), expected, rtol=1e-6)


@pytest.mark.parametrize("method", ["gradcam", "guided_gradcam"])
@pytest.mark.parametrize("score", ["log_prob", "logit"])
def test_nnx_and_function_forms_equal_the_linen_maps(forms, method, score):
    reference = np.asarray(explain(method, forms.linen, forms.variables, X, TARGET, layer="convs_1", score=score))
    assert np.abs(reference).max() > 0
    by_nnx = explain(method, forms.nnx, None, X, TARGET, layer="convs.1", score=score)
    by_function = explain(method, forms.f, forms.params, X, TARGET, features=forms.features, head=forms.head,
                          score=score)
    np.testing.assert_allclose(by_nnx, reference, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(by_function, reference, rtol=1e-5, atol=1e-6)


def test_gradcam_by_hand_on_the_function_form(forms):
    """relu(Σ_k mean_hw(∂ log p/∂A_k) A_k), nearest-upsampled ×2, written out with jax.grad."""
    feature = forms.features(forms.params, X)
    grad = jax.grad(lambda a: jax.nn.log_softmax(forms.head(forms.params, a))[jnp.arange(3), TARGET].sum())(feature)
    cam = np.maximum((grad.mean(axis=(1, 2), keepdims=True) * feature).sum(-1), 0)
    expected = np.repeat(np.repeat(cam, 2, axis=1), 2, axis=2)
    mine = explain("gradcam", forms.f, forms.params, X, TARGET, features=forms.features, head=forms.head)
    np.testing.assert_allclose(mine[..., 0], expected, rtol=1e-5, atol=1e-7)


def test_nnx_default_layer_is_the_last_map_and_classes_are_restored(forms):
    call = nnx.Conv.__call__
    default = explain("gradcam", forms.nnx, nnx.state(forms.nnx), X, TARGET)
    np.testing.assert_array_equal(default, explain("gradcam", forms.nnx, None, X, TARGET, layer="convs/1"))
    assert nnx.Conv.__call__ is call
    with pytest.raises(ValueError, match="layers with map outputs: convs.0, convs.1"):
        explain("gradcam", forms.nnx, None, X, TARGET, layer="convs.7")


def test_a_plain_function_without_features_and_head_is_told_what_to_pass(forms):
    with pytest.raises(UsageError, match="features=.*head="):
        explain("gradcam", forms.f, forms.params, X, TARGET)
    with pytest.raises(UsageError, match="together"):
        explain("gradcam", forms.f, forms.params, X, TARGET, features=forms.features)
    with pytest.raises(UsageError, match="not both"):
        explain("gradcam", forms.linen, forms.variables, X, TARGET, layer="convs_1", features=forms.features,
                head=forms.head)


def test_an_equinox_module_gets_one_line_saying_what_to_pass(monkeypatch):
    fake = types.ModuleType("equinox")
    fake.Module = type("Module", (), {"__call__": lambda self, x: x})
    monkeypatch.setitem(sys.modules, "equinox", fake)
    with pytest.raises(UsageError, match=r"eqx.partition.*eqx.combine") as error:
        explain("vanilla_grad", fake.Module(), None, X)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("method", ["gradcam", "guided_gradcam"])
def test_gradcam_explains_a_target_that_is_not_the_predicted_class(forms, method):
    """A given non-argmax target is the class explained (an ignored target would give the argmax's map)."""
    logits = forms.linen.apply(forms.variables, X)
    target = jnp.argmin(logits, -1)
    assert not jnp.any(target == jnp.argmax(logits, -1))
    feature = forms.features(forms.params, X)
    grad = jax.grad(lambda a: jax.nn.log_softmax(forms.head(forms.params, a))[jnp.arange(3), target].sum())(feature)
    cam = np.maximum((grad.mean(axis=(1, 2), keepdims=True) * feature).sum(-1), 0)
    expected = np.repeat(np.repeat(cam, 2, axis=1), 2, axis=2)
    mine = np.asarray(explain(method, forms.linen, forms.variables, X, target, layer="convs_1"))
    predicted = np.asarray(explain(method, forms.linen, forms.variables, X, None, layer="convs_1"))
    assert not np.allclose(mine, predicted)
    if method == "gradcam":
        np.testing.assert_allclose(mine[..., 0], expected, rtol=1e-5, atol=1e-7)
    else:  # Guided GradCAM = GuidedBackprop ⊙ upsampled GradCAM: zero exactly where the target's CAM is
        np.testing.assert_array_equal(np.abs(mine).sum(-1) == 0, (expected == 0) | (np.abs(mine).sum(-1) == 0))
