"""Parity with Captum: every method on the same weights, float64 on both sides.

Two Flax models are explained: a CNN the test writes with plain ``flax.linen`` layers (nn.Conv,
nn.relu / nn.softplus, nn.max_pool, nn.Dense) and the project's PlainCNN (registry "cnn"). Their
PyTorch twin is built from the Flax parameters (HWIO → OIHW kernels, NHWC flatten order kept by
permuting before the flatten). Captum explains one output; the twin ends in LogSoftmax so that
output is the same scalar we explain, log p(target | x) (LRP: the logit).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
captum_attr = pytest.importorskip("captum.attr")
from captum.attr._utils.lrp_rules import EpsilonRule  # noqa: E402

from specxai_jax.attribution import explain  # noqa: E402
from specxai_jax.models import init_variables  # noqa: E402
from specxai_jax.models.registry import build_model  # noqa: E402

DEPTH, WIDTH, DENSE, CLASSES, SIZE, BATCH = 2, 4, 16, 3, 8, 3
RTOL, ATOL = 1e-7, 1e-10
SOFTPLUS_BETA = 2.0


class FlaxCNN(nn.Module):
    """DEPTH × [Conv3×3, act, MaxPool2] → Dense → act → Dense, with plain flax.linen layers only."""

    activation: str = "relu"

    @nn.compact
    def __call__(self, x):
        act = nn.relu if self.activation == "relu" else (lambda u: nn.softplus(SOFTPLUS_BETA * u) / SOFTPLUS_BETA)
        for i in range(DEPTH):
            x = nn.max_pool(act(nn.Conv(WIDTH * 2**i, (3, 3), padding="SAME")(x)), (2, 2), strides=(2, 2))
        x = act(nn.Dense(DENSE)(x.reshape(x.shape[0], -1)))
        return nn.Dense(CLASSES)(x)


class TorchConvNet(torch.nn.Module):
    """The CNN in PyTorch, one module per use (Captum's hooks need that)."""

    def __init__(self, convs, dense, head, activation, log_softmax=True):
        super().__init__()
        self.convs = torch.nn.ModuleList()
        for layer in convs:
            kernel = np.asarray(layer["kernel"])
            conv = torch.nn.Conv2d(kernel.shape[2], kernel.shape[3], 3, padding=1).double()
            conv.weight.data = torch.tensor(kernel.transpose(3, 2, 0, 1).copy())
            conv.bias.data = torch.tensor(np.asarray(layer["bias"]))
            self.convs.append(conv)
        self.acts = torch.nn.ModuleList(activation() for _ in range(DEPTH + 1))
        self.pools = torch.nn.ModuleList(torch.nn.MaxPool2d(2) for _ in range(DEPTH))
        self.dense = self._linear(dense)
        self.head = self._linear(head)
        self.log_softmax = torch.nn.LogSoftmax(dim=1) if log_softmax else None

    @staticmethod
    def _linear(layer):
        kernel = np.asarray(layer["kernel"])
        linear = torch.nn.Linear(*kernel.shape).double()
        linear.weight.data = torch.tensor(kernel.T.copy())
        linear.bias.data = torch.tensor(np.asarray(layer["bias"]))
        return linear

    def forward(self, x):
        for conv, act, pool in zip(self.convs, self.acts, self.pools):
            x = pool(act(conv(x)))
        x = self.acts[-1](self.dense(x.permute(0, 2, 3, 1).flatten(1)))
        x = self.head(x)
        return self.log_softmax(x) if self.log_softmax is not None else x


TORCH_ACTIVATIONS = {"relu": lambda: torch.nn.ReLU(), "softplus": lambda: torch.nn.Softplus(SOFTPLUS_BETA, 1e6)}


class Twins:
    """A Flax model, its float64 variables, images, targets and a PyTorch twin factory."""

    def __init__(self, family, activation):
        self.activation = activation
        if family == "flax":
            self.model = FlaxCNN(activation)
            self.layer = f"Conv_{DEPTH - 1}"
            variables = self.model.init(jax.random.key(3), jnp.zeros((1, SIZE, SIZE, 3)))
            names = [f"Conv_{i}" for i in range(DEPTH)], "Dense_0", "Dense_1"
        else:
            self.model = build_model("cnn", num_classes=CLASSES, activation=activation, depth=DEPTH, width=WIDTH,
                                     dense=DENSE)
            self.layer = f"conv{DEPTH - 1}"
            beta = SOFTPLUS_BETA if activation == "softplus" else np.inf
            variables = init_variables(self.model, jax.random.key(3), beta, (1, SIZE, SIZE, 3))
            names = [f"conv{i}" for i in range(DEPTH)], "dense", "head"
        with jax.enable_x64(True):
            self.variables = jax.tree.map(lambda leaf: jnp.asarray(leaf, jnp.float64), variables)
            self.x = np.asarray(jax.random.uniform(jax.random.key(4), (BATCH, SIZE, SIZE, 3), jnp.float64))
            self.target = np.asarray(self.model.apply(self.variables, jnp.asarray(self.x)).argmax(-1))
        params = self.variables["params"]
        self.layers = [params[name] for name in names[0]], params[names[1]], params[names[2]]

    def torch(self, activation=None, log_softmax=True):
        return TorchConvNet(*self.layers, activation or TORCH_ACTIVATIONS[self.activation], log_softmax)

    def ours(self, method, **options):
        with jax.enable_x64(True):
            return np.asarray(explain(method, self.model, self.variables, jnp.asarray(self.x),
                                      jnp.asarray(self.target), **options))


@pytest.fixture(scope="module", params=["flax-relu", "flax-softplus", "cnn-relu",
                                        pytest.param("cnn-softplus", marks=pytest.mark.slow)])
def twins(request):
    family, activation = request.param.split("-")
    return Twins(family, activation)


def to_torch(x):
    return torch.tensor(x.transpose(0, 3, 1, 2).copy(), requires_grad=True)


def to_numpy(attribution):
    return attribution.detach().numpy().transpose(0, 2, 3, 1)


def relu_only(twins):
    if twins.activation != "relu":
        pytest.skip("Captum's GuidedBackprop/LRP hook ReLU modules only")
    return twins


def test_twin_computes_the_same_log_probabilities(twins):
    with jax.enable_x64(True):
        expected = np.asarray(jax.nn.log_softmax(twins.model.apply(twins.variables, jnp.asarray(twins.x))))
    np.testing.assert_allclose(twins.torch()(to_torch(twins.x)).detach().numpy(), expected, rtol=1e-10)


def test_vanilla_grad_matches_saliency(twins):
    theirs = captum_attr.Saliency(twins.torch()).attribute(to_torch(twins.x), target=twins.target.tolist(), abs=False)
    np.testing.assert_allclose(twins.ours("vanilla_grad"), to_numpy(theirs), rtol=RTOL, atol=ATOL)


def test_logit_score_is_captums_default_saliency_on_the_raw_output(twins):
    """score="logit" explains what Captum explains by default: the raw model output (no LogSoftmax);
    Saliency's default also takes absolute values."""
    twin = twins.torch(log_softmax=False)
    theirs = captum_attr.Saliency(twin).attribute(to_torch(twins.x), target=twins.target.tolist())
    np.testing.assert_allclose(np.abs(twins.ours("vanilla_grad", score="logit")), to_numpy(theirs), rtol=RTOL,
                               atol=ATOL)
    assert not np.allclose(twins.ours("vanilla_grad"), twins.ours("vanilla_grad", score="logit"), atol=1e-3)


def test_smooth_grad_matches_noise_tunnel_with_its_noise(twins):
    samples, recorded, twin = 4, [], twins.torch()
    hook = twin.convs[0].register_forward_pre_hook(lambda module, inputs: recorded.append(inputs[0].detach()))
    torch.manual_seed(0)
    tunnel = captum_attr.NoiseTunnel(captum_attr.Saliency(twin))
    theirs = tunnel.attribute(to_torch(twins.x), nt_type="smoothgrad", nt_samples=samples, stdevs=0.2,
                              target=twins.target.tolist(), abs=False)
    hook.remove()
    noisy = torch.cat(recorded).numpy().transpose(0, 2, 3, 1).reshape(BATCH, samples, SIZE, SIZE, 3)
    noise = (noisy - twins.x[:, None]).swapaxes(0, 1)          # Captum repeats each image samples times
    np.testing.assert_allclose(twins.ours("smooth_grad", noise=noise), to_numpy(theirs), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("quadrature", ["gausslegendre", "riemann_middle"])
def test_integrated_gradients_matches(twins, quadrature):
    baseline = np.full_like(twins.x, 0.3)
    theirs = captum_attr.IntegratedGradients(twins.torch()).attribute(
        to_torch(twins.x), baselines=torch.tensor(baseline.transpose(0, 3, 1, 2).copy()),
        target=twins.target.tolist(), n_steps=16, method=quadrature)
    mine = twins.ours("integrated_gradients", baseline=baseline, steps=16, quadrature=quadrature)
    np.testing.assert_allclose(mine, to_numpy(theirs), rtol=RTOL, atol=ATOL)


def test_deeplift_matches_on_relu_with_black_baseline(twins):
    """Captum agrees for ReLU nets and the black reference (the paper's setting); elsewhere see below."""
    relu_only(twins)
    baseline = np.zeros_like(twins.x)
    theirs = captum_attr.DeepLift(twins.torch()).attribute(
        to_torch(twins.x), baselines=torch.tensor(baseline.transpose(0, 3, 1, 2).copy()), target=twins.target.tolist())
    np.testing.assert_allclose(twins.ours("deeplift", baseline=baseline), to_numpy(theirs), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("reference", [0.0, 0.3])
def test_deeplift_keeps_summation_to_delta_where_captum_does_not(twins, reference):
    """Where the two differ (SoftPlus, or a non-black reference), Captum's own convergence delta is
    large and ours is rounding: the difference is Captum leaving the rescale rule, not ours."""
    if twins.activation == "relu" and reference == 0.0:
        pytest.skip("Captum and ours agree here (test above)")
    baseline = np.full_like(twins.x, reference)
    theirs, captum_delta = captum_attr.DeepLift(twins.torch(log_softmax=False)).attribute(
        to_torch(twins.x), baselines=torch.tensor(baseline.transpose(0, 3, 1, 2).copy()),
        target=twins.target.tolist(), return_convergence_delta=True)
    mine = twins.ours("deeplift", baseline=baseline, score="logit")
    with jax.enable_x64(True):
        logits = [np.asarray(twins.model.apply(twins.variables, jnp.asarray(a))) for a in (twins.x, baseline)]
    expected = (logits[0] - logits[1])[np.arange(BATCH), twins.target]
    np.testing.assert_allclose(mine.sum((1, 2, 3)), expected, rtol=1e-10, atol=1e-12)
    assert np.abs(captum_delta.detach().numpy()).max() > 1e-4
    assert not np.allclose(mine, to_numpy(theirs), rtol=1e-3, atol=1e-6)


def test_gradcam_by_layer_name_matches_layer_gradcam(twins):
    twin = twins.torch()
    cam = captum_attr.LayerGradCam(twin, twin.convs[DEPTH - 1]).attribute(
        to_torch(twins.x), target=twins.target.tolist(), relu_attributions=True)
    theirs = captum_attr.LayerAttribution.interpolate(cam, (SIZE, SIZE))[:, 0].detach().numpy()
    for layer in (twins.layer, None):  # by name, and the default: the last layer with a map output
        mine = twins.ours("gradcam", layer=layer)
        np.testing.assert_allclose(mine, np.broadcast_to(theirs[..., None], mine.shape), rtol=RTOL, atol=ATOL)


def test_guided_backprop_matches(twins):
    relu_only(twins)
    theirs = captum_attr.GuidedBackprop(twins.torch()).attribute(to_torch(twins.x), target=twins.target.tolist())
    np.testing.assert_allclose(twins.ours("guided_backprop"), to_numpy(theirs), rtol=RTOL, atol=ATOL)


def test_guided_backprop_of_softplus_matches_torch_hooks(twins):
    """Captum guides ReLU modules only; the same clamp, relu(φ'(x)·g), put on SoftPlus by a torch hook."""
    if twins.activation == "relu":
        pytest.skip("covered by Captum above")
    twin = twins.torch()
    for act in twin.acts:
        act.register_full_backward_hook(lambda module, grad_in, grad_out: (grad_in[0].clamp(min=0),))
    inputs = to_torch(twins.x)
    twin(inputs)[np.arange(BATCH), twins.target.tolist()].sum().backward()
    np.testing.assert_allclose(twins.ours("guided_backprop"), to_numpy(inputs.grad), rtol=RTOL, atol=ATOL)


def test_guided_gradcam_matches(twins):
    relu_only(twins)
    twin = twins.torch()
    theirs = captum_attr.GuidedGradCam(twin, twin.convs[DEPTH - 1]).attribute(to_torch(twins.x),
                                                                               target=twins.target.tolist())
    np.testing.assert_allclose(twins.ours("guided_gradcam", layer=twins.layer), to_numpy(theirs),
                               rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("epsilon", [1e-9, 0.05])
def test_lrp_matches_epsilon_rule_on_the_logit(twins, epsilon):
    relu_only(twins)
    twin = twins.torch(torch.nn.ReLU, log_softmax=False)
    for layer in [*twin.convs, *twin.pools, twin.dense, twin.head]:
        layer.rule = EpsilonRule(epsilon=epsilon)
    theirs = captum_attr.LRP(twin).attribute(to_torch(twins.x), target=twins.target.tolist())
    np.testing.assert_allclose(twins.ours("lrp", epsilon=epsilon), to_numpy(theirs), rtol=1e-6, atol=1e-9)


def test_lrp_refuses_smooth_activations(twins):
    if twins.activation == "relu":
        pytest.skip("defined for ReLU")
    with pytest.raises(ValueError, match="ReLU"):
        twins.ours("lrp")
