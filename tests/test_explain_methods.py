"""Parity with Captum: every method on the same weights, float64 on both sides.

The PyTorch twin of the Flax ConvNet is built from the Flax parameters (HWIO → OIHW kernels, NHWC
flatten order kept by permuting before the flatten). Captum explains one output; the torch twin ends
in LogSoftmax so that output is the same scalar we explain, log p(target | x) (LRP: the logit).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
captum_attr = pytest.importorskip("captum.attr")
from captum.attr._utils.lrp_rules import EpsilonRule  # noqa: E402

from specxai_jax.explain import explain  # noqa: E402
from specxai_jax.models import init_variables  # noqa: E402
from specxai_jax.models.registry import build_model  # noqa: E402

DEPTH, WIDTH, DENSE, CLASSES, SIZE, BATCH = 2, 4, 16, 3, 8, 3
RTOL, ATOL = 1e-7, 1e-10


class TorchConvNet(torch.nn.Module):
    """The ConvNet (no skip, no BN) in PyTorch, one module per use (Captum's hooks need that)."""

    def __init__(self, params, activation, log_softmax=True):
        super().__init__()
        self.convs = torch.nn.ModuleList()
        for i in range(DEPTH):
            kernel = np.asarray(params[f"conv{i}"]["kernel"])
            conv = torch.nn.Conv2d(kernel.shape[2], kernel.shape[3], 3, padding=1).double()
            conv.weight.data = torch.tensor(kernel.transpose(3, 2, 0, 1).copy())
            conv.bias.data = torch.tensor(np.asarray(params[f"conv{i}"]["bias"]))
            self.convs.append(conv)
        self.acts = torch.nn.ModuleList(activation() for _ in range(DEPTH + 1))
        self.pools = torch.nn.ModuleList(torch.nn.MaxPool2d(2) for _ in range(DEPTH))
        self.dense = self._linear(params["dense"])
        self.head = self._linear(params["head"])
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


ACTIVATIONS = {"relu": (lambda: torch.nn.ReLU(), np.inf),
               "softplus": (lambda: torch.nn.Softplus(beta=2.0, threshold=1e6), 2.0)}


@pytest.fixture(params=["relu", "softplus"])
def twins(request):
    """(flax model, float64 variables, torch twin, images NHWC, targets) for one activation."""
    torch_activation, beta = ACTIVATIONS[request.param]
    model = build_model("cnn", num_classes=CLASSES, activation=request.param, depth=DEPTH, width=WIDTH, dense=DENSE)
    variables = init_variables(model, jax.random.key(3), beta, (1, SIZE, SIZE, 3))
    with jax.enable_x64(True):
        variables = jax.tree.map(lambda leaf: jnp.asarray(leaf, jnp.float64), variables)
        x = np.asarray(jax.random.uniform(jax.random.key(4), (BATCH, SIZE, SIZE, 3), jnp.float64))
        target = np.asarray(model.apply(variables, jnp.asarray(x)).argmax(-1))
    twin = TorchConvNet(variables["params"], torch_activation)
    return request.param, model, variables, twin, x, target


def to_torch(x):
    return torch.tensor(x.transpose(0, 3, 1, 2).copy(), requires_grad=True)


def to_numpy(attribution):
    return attribution.detach().numpy().transpose(0, 2, 3, 1)


def ours(method, model, variables, x, target, **options):
    with jax.enable_x64(True):
        return np.asarray(explain(method, model, variables, jnp.asarray(x), jnp.asarray(target), **options))


def test_twin_computes_the_same_log_probabilities(twins):
    _, model, variables, twin, x, _ = twins
    with jax.enable_x64(True):
        expected = np.asarray(jax.nn.log_softmax(model.apply(variables, jnp.asarray(x))))
    np.testing.assert_allclose(twin(to_torch(x)).detach().numpy(), expected, rtol=1e-10)


def relu_only(twins):
    activation, *rest = twins
    if activation != "relu":
        pytest.skip("Captum's GuidedBackprop/LRP hook ReLU modules only")
    return rest


def test_vanilla_grad_matches_saliency(twins):
    _, model, variables, twin, x, target = twins
    theirs = captum_attr.Saliency(twin).attribute(to_torch(x), target=target.tolist(), abs=False)
    np.testing.assert_allclose(ours("vanilla_grad", model, variables, x, target), to_numpy(theirs), rtol=RTOL, atol=ATOL)


def test_smooth_grad_matches_noise_tunnel_with_its_noise(twins):
    _, model, variables, twin, x, target = twins
    samples, recorded = 4, []
    hook = twin.convs[0].register_forward_pre_hook(lambda module, inputs: recorded.append(inputs[0].detach()))
    torch.manual_seed(0)
    tunnel = captum_attr.NoiseTunnel(captum_attr.Saliency(twin))
    theirs = tunnel.attribute(to_torch(x), nt_type="smoothgrad", nt_samples=samples, stdevs=0.2,
                              target=target.tolist(), abs=False)
    hook.remove()
    noisy = torch.cat(recorded).numpy().transpose(0, 2, 3, 1).reshape(BATCH, samples, SIZE, SIZE, 3)
    noise = (noisy - x[:, None]).swapaxes(0, 1)          # Captum repeats each image samples times
    np.testing.assert_allclose(ours("smooth_grad", model, variables, x, target, noise=noise),
                               to_numpy(theirs), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("quadrature", ["gausslegendre", "riemann_middle"])
def test_integrated_gradients_matches(twins, quadrature):
    _, model, variables, twin, x, target = twins
    baseline = np.full_like(x, 0.3)
    theirs = captum_attr.IntegratedGradients(twin).attribute(
        to_torch(x), baselines=torch.tensor(baseline.transpose(0, 3, 1, 2).copy()), target=target.tolist(),
        n_steps=16, method=quadrature)
    mine = ours("integrated_gradients", model, variables, x, target, baseline=baseline, steps=16, quadrature=quadrature)
    np.testing.assert_allclose(mine, to_numpy(theirs), rtol=RTOL, atol=ATOL)


def test_deeplift_matches_on_relu_with_black_baseline(twins):
    """Captum agrees for ReLU nets and the black reference (the paper's setting); elsewhere see below."""
    model, variables, twin, x, target = relu_only(twins)
    baseline = np.zeros_like(x)
    theirs = captum_attr.DeepLift(twin).attribute(
        to_torch(x), baselines=torch.tensor(baseline.transpose(0, 3, 1, 2).copy()), target=target.tolist())
    mine = ours("deeplift", model, variables, x, target, baseline=baseline)
    np.testing.assert_allclose(mine, to_numpy(theirs), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("reference", [0.0, 0.3])
def test_deeplift_keeps_summation_to_delta_where_captum_does_not(twins, reference):
    """Where the two differ (SoftPlus, or a non-black reference), Captum's own convergence delta is
    large and ours is rounding: the difference is Captum leaving the rescale rule, not ours."""
    activation, model, variables, _, x, target = twins
    if activation == "relu" and reference == 0.0:
        pytest.skip("Captum and ours agree here (test above)")
    twin = TorchConvNet(variables["params"], ACTIVATIONS[activation][0], log_softmax=False)
    baseline = np.full_like(x, reference)
    theirs, captum_delta = captum_attr.DeepLift(twin).attribute(
        to_torch(x), baselines=torch.tensor(baseline.transpose(0, 3, 1, 2).copy()), target=target.tolist(),
        return_convergence_delta=True)
    mine = ours("deeplift", model, variables, x, target, baseline=baseline, score="logit")
    with jax.enable_x64(True):
        logits = [np.asarray(model.apply(variables, jnp.asarray(a))) for a in (x, baseline)]
    expected = (logits[0] - logits[1])[np.arange(BATCH), target]
    np.testing.assert_allclose(mine.sum((1, 2, 3)), expected, rtol=1e-10, atol=1e-12)
    assert np.abs(captum_delta.detach().numpy()).max() > 1e-4
    assert not np.allclose(mine, to_numpy(theirs), rtol=1e-3, atol=1e-6)


def test_gradcam_matches_layer_gradcam(twins):
    _, model, variables, twin, x, target = twins
    layer_cam = captum_attr.LayerGradCam(twin, twin.acts[DEPTH - 1])
    cam = layer_cam.attribute(to_torch(x), target=target.tolist(), relu_attributions=True)
    theirs = captum_attr.LayerAttribution.interpolate(cam, (SIZE, SIZE))[:, 0].detach().numpy()
    mine = ours("gradcam", model, variables, x, target)
    np.testing.assert_allclose(mine, np.broadcast_to(theirs[..., None], mine.shape), rtol=RTOL, atol=ATOL)


def test_guided_backprop_matches(twins):
    model, variables, twin, x, target = relu_only(twins)
    theirs = captum_attr.GuidedBackprop(twin).attribute(to_torch(x), target=target.tolist())
    np.testing.assert_allclose(ours("guided_backprop", model, variables, x, target), to_numpy(theirs),
                               rtol=RTOL, atol=ATOL)


def test_guided_backprop_of_softplus_matches_torch_hooks(twins):
    """Captum guides ReLU modules only; the same clamp, relu(φ'(x)·g), put on SoftPlus by a torch hook."""
    activation, model, variables, twin, x, target = twins
    if activation == "relu":
        pytest.skip("covered by Captum above")
    for act in twin.acts:
        act.register_full_backward_hook(lambda module, grad_in, grad_out: (grad_in[0].clamp(min=0),))
    inputs = to_torch(x)
    twin(inputs)[np.arange(BATCH), target.tolist()].sum().backward()
    np.testing.assert_allclose(ours("guided_backprop", model, variables, x, target), to_numpy(inputs.grad),
                               rtol=RTOL, atol=ATOL)


def test_guided_gradcam_matches(twins):
    model, variables, twin, x, target = relu_only(twins)
    theirs = captum_attr.GuidedGradCam(twin, twin.acts[DEPTH - 1]).attribute(to_torch(x), target=target.tolist())
    np.testing.assert_allclose(ours("guided_gradcam", model, variables, x, target), to_numpy(theirs),
                               rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("epsilon", [1e-9, 0.05])
def test_lrp_matches_epsilon_rule_on_the_logit(twins, epsilon):
    model, variables, _, x, target = relu_only(twins)
    twin = TorchConvNet(variables["params"], torch.nn.ReLU, log_softmax=False)
    for layer in [*twin.convs, *twin.pools, twin.dense, twin.head]:
        layer.rule = EpsilonRule(epsilon=epsilon)
    theirs = captum_attr.LRP(twin).attribute(to_torch(x), target=target.tolist())
    mine = ours("lrp", model, variables, x, target, epsilon=epsilon)
    np.testing.assert_allclose(mine, to_numpy(theirs), rtol=1e-6, atol=1e-9)


def test_lrp_refuses_smooth_activations(twins):
    activation, model, variables, _, x, target = twins
    if activation == "relu":
        pytest.skip("defined for ReLU")
    with pytest.raises(ValueError, match="ReLU"):
        ours("lrp", model, variables, x, target)
