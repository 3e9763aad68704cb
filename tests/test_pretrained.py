"""from_pretrained against transformers: random-weight checkpoints of small configs, written by save_pretrained.

Every weight, running statistic and norm parameter is randomized before saving (a fresh model's BN
statistics are 0/1 and would hide a wrong conversion). The PyTorch side gets the same [0, 1] images and
normalizes them inside its autograd graph, so both gradients are with respect to the image as seen.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import types
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from specxai_jax import gap  # noqa: E402
from specxai_jax.attribution import METHODS, explain  # noqa: E402
from specxai_jax.cli import reproduce, validation  # noqa: E402
from specxai_jax.configs import GapConfig  # noqa: E402
from specxai_jax.errors import UsageError  # noqa: E402
from specxai_jax.models import from_pretrained  # noqa: E402
from specxai_jax.models.hf_activations import hf_activation  # noqa: E402
from specxai_jax.models.pretrained import IMAGENET_MEAN, IMAGENET_STD, PretrainedCheckpointError  # noqa: E402

RTOL = 1e-4
CONFIGS = {
    "resnet-bottleneck": ("ResNet", dict(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 2], layer_type="bottleneck",
                                         downsample_in_first_stage=True, downsample_in_bottleneck=True,
                                         num_labels=5), 32),
    "resnet-basic-gelu": ("ResNet", dict(embedding_size=4, hidden_sizes=[4, 8], depths=[2, 1], layer_type="basic",
                                         hidden_act="gelu", num_labels=3), 24),
    "vit-gelu": ("ViT", dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                             image_size=16, patch_size=4, num_labels=5), 16),
    "vit-tanh-nobias": ("ViT", dict(hidden_size=12, num_hidden_layers=1, num_attention_heads=3, intermediate_size=20,
                                    image_size=18, patch_size=6, qkv_bias=False, layer_norm_eps=1e-6,
                                    hidden_act="gelu_new", num_labels=4), 18),
}
VIT_MEAN, VIT_STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


def make_checkpoint(name: str, directory, *, safetensors: bool = True, processor: bool = False,
                    shard: str | None = None):
    """A randomized transformers model of config ``name`` saved in ``directory``; (torch model, image side).

    ``safetensors=False``: a ``pytorch_model.bin`` instead; ``shard``: safetensors shards of at most this size.
    """
    family, options, size = CONFIGS[name]
    config = getattr(transformers, f"{family}Config")(**options)
    torch.manual_seed(0)
    model = getattr(transformers, f"{family}ForImageClassification")(config).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            noise = torch.randn(tensor.shape, generator=generator)
            if key.endswith("running_var"):
                tensor.copy_(0.5 + noise.abs())
            elif key.endswith(("norm.weight", "normalization.weight", "layernorm_before.weight",
                               "layernorm_after.weight")):
                tensor.copy_(1 + 0.2 * noise)
            else:
                tensor.copy_(tensor + 0.1 * noise)
    if safetensors:
        model.save_pretrained(directory, **({"max_shard_size": shard} if shard else {}))
    else:
        config.save_pretrained(directory)  # no "architectures": from_pretrained goes by model_type
        torch.save(model.state_dict(), directory / "pytorch_model.bin")
    if processor:
        (directory / "preprocessor_config.json").write_text(json.dumps(
            {"do_normalize": True, "image_mean": list(VIT_MEAN), "image_std": list(VIT_STD)}))
    return model, size


def torch_logits_and_saliency(model, x: np.ndarray, mean, std):
    """Logits (B, K) and ∇ log softmax[argmax] w.r.t. [0, 1] images (B, H, W, C), by torch.autograd."""
    images = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    normalized = (images - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
    logits = model(pixel_values=normalized.float()).logits
    log_prob = torch.log_softmax(logits, dim=-1)
    log_prob.gather(1, logits.argmax(1, keepdim=True)).sum().backward()
    return logits.detach().numpy(), images.grad.numpy().transpose(0, 2, 3, 1)


def images(size: int, count: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(count, size, size, 3)).astype(np.float32)


def relative_error(ours, reference) -> float:
    return float(np.abs(np.asarray(ours) - reference).max() / np.abs(reference).max())


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name == "vit-tanh-nobias" else name
                                  for name in CONFIGS])  # the ViT options are also covered by vit-gelu
def test_logits_and_vanilla_grad_match_transformers(name, tmp_path):
    processor = name.startswith("vit-gelu")
    reference, size = make_checkpoint(name, tmp_path, processor=processor)
    model, variables = from_pretrained(tmp_path)
    mean, std = (VIT_MEAN, VIT_STD) if processor else (IMAGENET_MEAN, IMAGENET_STD)
    assert model.mean == mean and model.std == std
    x = images(size)
    logits, saliency = torch_logits_and_saliency(reference, x, mean, std)
    assert relative_error(model.apply(variables, jnp.asarray(x)), logits) <= RTOL
    ours = explain("vanilla_grad", model, variables, jnp.asarray(x))
    assert relative_error(ours, saliency) <= RTOL


@pytest.mark.parametrize("form", ["bin", "sharded"])
def test_pytorch_bin_and_sharded_checkpoints_load(form, tmp_path):
    reference, size = make_checkpoint("vit-tanh-nobias", tmp_path, safetensors=form == "sharded", shard="4KB")
    assert not (tmp_path / "model.safetensors").exists()
    assert (tmp_path / "model.safetensors.index.json").is_file() == (form == "sharded")
    model, variables = from_pretrained(str(tmp_path))
    x = images(size)
    logits, _ = torch_logits_and_saliency(reference, x, IMAGENET_MEAN, IMAGENET_STD)
    assert relative_error(model.apply(variables, jnp.asarray(x)), logits) <= RTOL


def torch_gradcam(model, x: np.ndarray, layer, tokens: bool):
    """GradCAM at ``layer`` by hooks: relu(Σ_k mean(∂ log p/∂A_k) A_k), nearest-upsampled; (B, H, W).

    ``tokens``: the layer's output is (B, 1 + h·w, D); the class token is dropped, the rest laid out h × w.
    """
    captured = {}
    handle = layer.register_forward_hook(lambda module, inputs, output: captured.update(a=output))
    normalized = (torch.tensor(x.transpose(0, 3, 1, 2)) - torch.tensor(IMAGENET_MEAN).view(1, -1, 1, 1)) \
        / torch.tensor(IMAGENET_STD).view(1, -1, 1, 1)
    logits = model(pixel_values=normalized.float()).logits
    handle.remove()
    feature = captured["a"]
    score = torch.log_softmax(logits, -1).gather(1, logits.argmax(1, keepdim=True)).sum()
    (grad,) = torch.autograd.grad(score, feature)
    if tokens:
        side = int(round((feature.shape[1] - 1) ** 0.5))
        feature, grad = (t[:, 1:].reshape(t.shape[0], side, side, -1).permute(0, 3, 1, 2) for t in (feature, grad))
    cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * feature).sum(1, keepdim=True))
    return torch.nn.functional.interpolate(cam, size=x.shape[1:3], mode="nearest")[:, 0].detach().numpy()


@pytest.mark.parametrize("name", ["resnet-bottleneck", "vit-gelu"])
def test_gradcam_matches_hooks_on_the_reference(name, tmp_path):
    """ResNet: the last stage's output; ViT: the last layer's layernorm_before, class token dropped."""
    reference, size = make_checkpoint(name, tmp_path)
    model, variables = from_pretrained(tmp_path)
    if name.startswith("resnet"):
        layer = reference.resnet.encoder.stages[-1]
    else:
        layer = reference.vit.layers[-1].layernorm_before
    x = images(size)
    expected = torch_gradcam(reference, x, layer, tokens=name.startswith("vit"))
    ours = np.asarray(explain("gradcam", model, variables, jnp.asarray(x), layer=model.gradcam_layer))
    assert np.abs(expected).max() > 0
    assert relative_error(ours[..., 0], expected) <= 1e-3


@pytest.mark.parametrize("name", ["resnet-bottleneck", "vit-gelu"])
def test_guided_backprop_matches_clamped_hooks_on_the_reference(name, tmp_path):
    """GuidedBackprop: every activation's input gradient clamped at 0 (ReLU: Captum's rule; the ViT's GELU too,
    as the project treats every activation family), by backward hooks on the reference's activation modules."""
    reference, size = make_checkpoint(name, tmp_path)
    model, variables = from_pretrained(tmp_path)
    kinds = (torch.nn.ReLU, transformers.activations.GELUActivation)
    hooks = [module.register_full_backward_hook(lambda module, grad_in, grad_out: (grad_in[0].clamp(min=0),))
             for module in reference.modules() if isinstance(module, kinds)]
    x = images(size)
    _, expected = torch_logits_and_saliency(reference, x, IMAGENET_MEAN, IMAGENET_STD)
    for hook in hooks:
        hook.remove()
    _, plain = torch_logits_and_saliency(reference, x, IMAGENET_MEAN, IMAGENET_STD)
    assert hooks and relative_error(plain, expected) > 1e-2  # the clamp matters here
    assert relative_error(explain("guided_backprop", model, variables, jnp.asarray(x)), expected) <= RTOL


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet-bottleneck", "vit-gelu"])
def test_every_defined_method_runs(name, tmp_path):
    """All methods give finite maps shaped like x; LRP (ε-rule) is undefined for BN/attention and says so."""
    make_checkpoint(name, tmp_path)
    model, variables = from_pretrained(tmp_path)
    x = jnp.asarray(images(CONFIGS[name][2], count=2))
    options = {"smooth_grad": dict(samples=4, key=jax.random.key(0)), "integrated_gradients": dict(steps=8),
               "gradcam": dict(layer=model.gradcam_layer), "guided_gradcam": dict(layer=model.gradcam_layer)}
    for method in METHODS:
        if method == "lrp":
            with pytest.raises(ValueError, match="LRP"):
                explain(method, model, variables, x)
            continue
        maps = explain(method, model, variables, x, **options.get(method, {}))
        assert maps.shape == x.shape and bool(jnp.isfinite(maps).all()) and float(jnp.abs(maps).max()) > 0, method


def test_checkpoint_errors_are_one_line(tmp_path, monkeypatch):
    with pytest.raises(PretrainedCheckpointError, match="not a checkpoint directory"):
        from_pretrained(tmp_path / "absent" / "deeper")
    with pytest.raises(PretrainedCheckpointError, match="no config.json"):
        from_pretrained(tmp_path)
    make_checkpoint("vit-tanh-nobias", tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 2}))
    with pytest.raises(PretrainedCheckpointError, match="does not match its config.json: missing"):
        from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "architectures": ["BertModel"]}))
    with pytest.raises(PretrainedCheckpointError, match="architecture 'BertModel' is not supported"):
        from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "hidden_act": "mish"}))
    with pytest.raises(PretrainedCheckpointError, match="hidden_act 'mish' is not supported"):
        from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "hidden_size": 24}))
    with pytest.raises(PretrainedCheckpointError, match="shapes do not match"):
        from_pretrained(tmp_path)


def test_hub_name_offline_says_so_in_one_line(tmp_path, monkeypatch):
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read per request: no network even where there is one
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))  # and no cached copy
    with pytest.raises(PretrainedCheckpointError, match="cannot download microsoft/resnet-50") as error:
        from_pretrained("microsoft/resnet-50")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("name", ["relu", "gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu_accurate",
                                  "quick_gelu", "silu", "tanh", "sigmoid", "relu6", "leaky_relu"])
def test_activations_match_transformers(name):
    """Each hidden_act against transformers' own ACT2FN (erf vs tanh GELU differ by up to ~5e-4)."""
    x = np.linspace(-6, 6, 2001, dtype=np.float32)
    expected = transformers.activations.ACT2FN[name](torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(hf_activation(name)(jnp.asarray(x)), expected, rtol=1e-5, atol=2e-6)


@pytest.mark.slow
def test_reproduce_tab2_quick_on_random_checkpoints(tmp_path):
    """Tab. 2's target on small random ResNet and ViT checkpoints: the table, the GradCAM layers stated."""
    make_checkpoint("resnet-basic-gelu", tmp_path / "resnet")
    make_checkpoint("vit-gelu", tmp_path / "vit")
    out = tmp_path / "tab2"
    argv = ["--target", "tab2", "--quick", "--no-progress", "--out", str(out),
            "--pretrained", str(tmp_path / "resnet"), str(tmp_path / "vit")]
    assert reproduce.main(argv) == 0
    table = (out / "comparison.md").read_text()
    assert table.count("\n| ") == 1 + 2 * len(METHODS)
    assert "`resnet/encoder/stages_1`" in table and "`vit/encoder/layer_1/layernorm_before`" in table
    assert "class token dropped" in table and "from scratch" not in table
    assert json.loads((out / "config.json").read_text())["img_size"] == CONFIGS["vit-gelu"][2]


def test_pretrained_is_for_tab2_only(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        validation.cli_entry(reproduce.main, ["--target", "tab1", "--pretrained", str(tmp_path), "--out",
                                              str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert exit_info.value.code == 2 and "--pretrained applies to --target tab2 only" in error
    assert len(error.strip().splitlines()) == 1


def test_hub_name_downloads_config_processor_and_first_weight_file(tmp_path, monkeypatch):
    """A hub name goes through huggingface_hub.hf_hub_download (replaced here by a local stand-in that knows
    only the files of a .bin checkpoint): model.safetensors is tried first, pytorch_model.bin used."""
    huggingface_hub = pytest.importorskip("huggingface_hub")
    from huggingface_hub import errors

    reference, size = make_checkpoint("vit-tanh-nobias", tmp_path, safetensors=False, processor=True)
    asked = []

    def download(repo_id, filename):
        asked.append((repo_id, filename))
        if not (tmp_path / filename).is_file():
            absent = getattr(errors, "RemoteEntryNotFoundError", errors.EntryNotFoundError)
            raise absent.__new__(absent)
        return str(tmp_path / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    model, variables = from_pretrained("someone/tiny-vit")
    assert [name for _, name in asked] == ["config.json", "preprocessor_config.json", "model.safetensors",
                                           "pytorch_model.bin"]
    x = images(size)
    logits, _ = torch_logits_and_saliency(reference, x, VIT_MEAN, VIT_STD)
    assert relative_error(model.apply(variables, jnp.asarray(x)), logits) <= RTOL


def test_imagenette_classes_map_to_their_imagenet_indices():
    """The mapping against TFDS's own label files (ImageNet's 1000 WordNet ids in index order, Imagenette's 10)."""
    root = Path(importlib.util.find_spec("tensorflow_datasets").submodule_search_locations[0])
    imagenet = (root / "datasets" / "imagenet2012" / "labels.txt").read_text().split()
    imagenette = (root / "image_classification" / "imagenette_labels.txt").read_text().split()
    assert list(gap.IMAGENETTE_TO_IMAGENET) == [imagenet.index(wnid) for wnid in imagenette]
    # accuracy of a stand-in model that predicts ImageNet class 217 (Imagenette's class 1) for every image
    model = types.SimpleNamespace(apply=lambda variables, x: jax.nn.one_hot(jnp.full(len(x), 217), 1000))
    dataset = types.SimpleNamespace(name="tfds:imagenette/160px-v2", num_classes=10)
    x, labels = np.zeros((4, 2, 2, 3), np.float32), np.array([1, 1, 0, 9])
    assert gap.pretrained_accuracy(model, None, x, labels, dataset) == 0.5
    other = types.SimpleNamespace(name="synthetic", num_classes=10)
    assert np.isnan(gap.pretrained_accuracy(model, None, x, labels, other))


@pytest.mark.slow
def test_gap_run_explains_checkpoints_at_their_size(tmp_path):
    """specxai_jax.gap.run on a random ViT checkpoint: images at its size, its GradCAM layer recorded and
    stated in table.md."""
    make_checkpoint("vit-gelu", tmp_path / "vit")
    config = GapConfig(dataset="synthetic:channels=3", pretrained=(str(tmp_path / "vit"),), img_size=None,
                           max_test=8, n_explain=2, sigmas=(0.1,), samples=2, ig_steps=2)
    result = gap.run(config, tmp_path / "out", progress=False)
    size = CONFIGS["vit-gelu"][2]
    assert (result.img_size, result.num_classes) == (size, 5)
    assert result.gradcam_layers == {"vit": "vit/encoder/layer_1/layernorm_before"}
    assert {row["model"] for row in result.rows} == {"vit"} and len(result.rows) == len(METHODS)
    assert "class token dropped" in (tmp_path / "out" / "table.md").read_text()
    recorded = json.loads((tmp_path / "out" / "config.json").read_text())
    assert (recorded["img_size"], recorded["models"], recorded["gradcam_layers"]) == (size, [], result.gradcam_layers)


def test_gap_pretrained_size_is_the_vits_and_another_is_refused(tmp_path):
    make_checkpoint("vit-gelu", tmp_path / "vit")
    make_checkpoint("resnet-basic-gelu", tmp_path / "resnet")
    config = GapConfig(pretrained=(str(tmp_path / "resnet"), str(tmp_path / "vit")), img_size=None)
    loaded, size = gap.load_pretrained(config)
    assert size == CONFIGS["vit-gelu"][2] and [spec.family for spec, _, _ in loaded] == ["resnet", "vit"]
    assert [spec.token_grid for spec, _, _ in loaded] == [None, 16 // 4]
    assert gap.load_pretrained(dataclasses.replace(config, pretrained=config.pretrained[:1]))[1] == 224
    with pytest.raises(UsageError, match="px images"):
        gap.load_pretrained(dataclasses.replace(config, img_size=size + 4))
