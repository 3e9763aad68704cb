"""``from_pretrained``: Hugging Face ResNet / ViT image classifiers as Flax models with their weights.

A checkpoint is a directory as ``save_pretrained`` writes it (``config.json`` plus ``model.safetensors``,
a sharded ``model.safetensors.index.json`` or ``pytorch_model.bin``; optionally
``preprocessor_config.json``), or a hub name such as ``microsoft/resnet-50`` fetched with
``huggingface_hub``. safetensors are read with ``safetensors.numpy``; PyTorch is needed only for ``.bin``.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from specxai_jax.errors import PretrainedCheckpointError
from specxai_jax.models.hf_activations import ACTIVATIONS
from specxai_jax.models.hf_resnet import ResNetForImageClassification
from specxai_jax.models.hf_vit import ViTForImageClassification

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
ARCHITECTURES = ("ResNetForImageClassification", "ViTForImageClassification")
MODEL_TYPES = {"resnet": ARCHITECTURES[0], "vit": ARCHITECTURES[1]}
"""Architecture of a config.json without ``architectures`` (one saved from a bare config)."""
_NEW_TO_SAVED_NAMES = (  # transformers ≥ 5 module names → the names save_pretrained writes
    (r"^vit\.layers\.(\d+)\.", r"vit.encoder.layer.\1."),
    (r"\.attention\.q_proj\.", ".attention.attention.query."),
    (r"\.attention\.k_proj\.", ".attention.attention.key."),
    (r"\.attention\.v_proj\.", ".attention.attention.value."),
    (r"\.attention\.o_proj\.", ".attention.output.dense."),
    (r"\.mlp\.fc1\.", ".intermediate.dense."),
    (r"\.mlp\.fc2\.", ".output.dense."),
)
_UNUSED = re.compile(r"(num_batches_tracked$|^vit\.pooler\.)")
"""Checkpoint entries the classifier does not use (BN step counters, ViT's pooler)."""



def from_pretrained(name_or_path: str | Path) -> tuple[ResNetForImageClassification | ViTForImageClassification, dict]:
    """(Flax model, variables) of a Hugging Face ResNet/ViT image-classification checkpoint.

    The model maps images (B, H, W, C) in [0, 1] to logits (B, num_labels) and applies the checkpoint's
    normalization itself (``image_mean``/``image_std`` of ``preprocessor_config.json``, ImageNet's when
    absent), so gradients are taken with respect to the image as seen. Variables: ``params`` (and
    ``batch_stats`` for ResNet). ``name_or_path`` is a directory or a hub name (downloaded when online).
    """
    directory = _checkpoint_directory(name_or_path)
    config = _read_json(directory / "config.json")
    model = module_from_config(config, *_normalization(directory))
    variables = convert_state_dict(_read_weights(directory), model, config)
    return model, variables


def module_from_config(config: dict, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """The Flax module of a transformers ``config.json`` dict (any size of either architecture).

    ``mean``/``std``: per-channel normalization the module applies to its [0, 1] inputs.
    """
    architecture = (config.get("architectures") or [None])[0] or MODEL_TYPES.get(str(config.get("model_type")))
    labels = int(len(config.get("id2label") or {}) or config.get("num_labels", 2))
    channels = int(config.get("num_channels", 3))
    mean, std = _per_channel(mean, channels), _per_channel(std, channels)
    activation = config.get("hidden_act", "relu" if architecture == ARCHITECTURES[0] else "gelu")
    if activation not in ACTIVATIONS:
        raise PretrainedCheckpointError(f"config.json hidden_act {activation!r} is not supported; supported: "
                              f"{', '.join(ACTIVATIONS)}")
    if architecture == "ResNetForImageClassification":
        return ResNetForImageClassification(
            embedding_size=config.get("embedding_size", 64),
            hidden_sizes=tuple(config.get("hidden_sizes", (256, 512, 1024, 2048))),
            depths=tuple(config.get("depths", (3, 4, 6, 3))), layer_type=config.get("layer_type", "bottleneck"),
            hidden_act=activation,
            downsample_in_first_stage=bool(config.get("downsample_in_first_stage", False)),
            downsample_in_bottleneck=bool(config.get("downsample_in_bottleneck", False)),
            num_labels=labels, mean=mean, std=std)
    if architecture == "ViTForImageClassification":
        return ViTForImageClassification(
            hidden_size=config.get("hidden_size", 768), num_hidden_layers=config.get("num_hidden_layers", 12),
            num_attention_heads=config.get("num_attention_heads", 12), head_dim=config.get("head_dim"),
            intermediate_size=config.get("intermediate_size", 3072), hidden_act=activation,
            layer_norm_eps=float(config.get("layer_norm_eps", 1e-12)), image_size=_square(config, "image_size", 224),
            patch_size=_square(config, "patch_size", 16), qkv_bias=bool(config.get("qkv_bias", True)),
            num_labels=labels, mean=mean, std=std)
    raise PretrainedCheckpointError(f"architecture {architecture!r} is not supported; from_pretrained reads "
                          f"{' and '.join(ARCHITECTURES)} checkpoints")


def convert_state_dict(tensors: dict[str, np.ndarray], model, config: dict) -> dict:
    """PyTorch state dict (name → array) → Flax variables {"params", ["batch_stats"]} checked against ``model``.

    ``a.b.0.c.weight`` → ``a/b_0/c``: conv weights (O, I, kh, kw) → kernel (kh, kw, I, O), linear (O, I) →
    kernel (I, O), 1-D weights → norm ``scale``, running_mean/var → ``batch_stats`` mean/var.
    """
    flat = {}
    for name, value in tensors.items():
        for pattern, replacement in _NEW_TO_SAVED_NAMES:
            name = re.sub(pattern, replacement, name)
        if _UNUSED.search(name):
            continue
        *modules, leaf = re.sub(r"\.(\d+)(?=\.|$)", r"_\1", name).split(".")
        value = np.asarray(value, np.float32)
        collection = "params"
        if leaf == "weight":
            if value.ndim not in (1, 2, 4):
                raise PretrainedCheckpointError(f"checkpoint entry {name} has shape {value.shape}; expected a conv, linear "
                                      "or norm weight")
            leaf = "scale" if value.ndim == 1 else "kernel"
            value = value.transpose(2, 3, 1, 0) if value.ndim == 4 else value.T if value.ndim == 2 else value
        elif leaf in ("running_mean", "running_var"):
            collection, leaf = "batch_stats", leaf.removeprefix("running_")
        flat[(collection, *modules, leaf)] = value
    expected = _expected_shapes(model, config)
    missing = sorted("/".join(k) for k in expected.keys() - flat.keys())
    unexpected = sorted("/".join(k) for k in flat.keys() - expected.keys())
    if missing or unexpected:
        raise PretrainedCheckpointError(f"checkpoint does not match its config.json: missing {missing[:3]}"
                              f"{'…' if len(missing) > 3 else ''}, unexpected {unexpected[:3]}"
                              f"{'…' if len(unexpected) > 3 else ''}")
    wrong = [f"{'/'.join(k)} {flat[k].shape} ≠ {shape}" for k, shape in expected.items() if flat[k].shape != shape]
    if wrong:
        raise PretrainedCheckpointError(f"checkpoint shapes do not match its config.json: {'; '.join(wrong[:3])}")
    return jax.tree.map(jnp.asarray, traverse_util.unflatten_dict(flat))


def _expected_shapes(model, config: dict) -> dict[tuple, tuple]:
    size = getattr(model, "image_size", 64)
    shape = (1, size, size, int(config.get("num_channels", 3)))
    abstract = jax.eval_shape(model.init, jax.random.key(0), jax.ShapeDtypeStruct(shape, jnp.float32))
    kept = {name: abstract[name] for name in ("params", "batch_stats") if name in abstract}
    return {path: leaf.shape for path, leaf in traverse_util.flatten_dict(kept).items()}


def _checkpoint_directory(name_or_path: str | Path) -> Path:
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise PretrainedCheckpointError(f"{path} has no config.json (expected a directory written by save_pretrained)")
        return path
    if path.exists() or str(name_or_path).count("/") != 1 or str(name_or_path).startswith((".", "/", "~")):
        raise PretrainedCheckpointError(f"{name_or_path} is not a checkpoint directory or a hub name such as microsoft/resnet-50")
    return _download(str(name_or_path))


def _download(repo_id: str) -> Path:
    """The hub files of ``repo_id`` (config, preprocessor config if any, one weight file) in the local cache."""
    try:
        from huggingface_hub import errors, hf_hub_download
    except ImportError:
        raise PretrainedCheckpointError(f"downloading {repo_id} needs huggingface_hub (pip install huggingface_hub); "
                              "or pass a directory written by save_pretrained") from None
    absent = getattr(errors, "RemoteEntryNotFoundError", errors.EntryNotFoundError)

    def fetch(filename: str) -> Path | None:
        try:
            return Path(hf_hub_download(repo_id, filename))
        except absent:
            return None

    hub_log = logging.getLogger("huggingface_hub")
    level = hub_log.level
    hub_log.setLevel(logging.ERROR)  # its retry warnings would precede our one-line error (set after its import)
    try:
        config = fetch("config.json")
        fetch("preprocessor_config.json")
        weights = next((path for path in map(fetch, ("model.safetensors", "pytorch_model.bin")) if path), None)
    except Exception as error:  # noqa: BLE001 - the hub client's offline/auth/not-found errors are many
        raise PretrainedCheckpointError(f"cannot download {repo_id} from the Hugging Face hub ({type(error).__name__}); "
                              "without network, pass a directory written by save_pretrained") from None
    finally:
        hub_log.setLevel(level)
    if config is None or weights is None:
        raise PretrainedCheckpointError(f"hub repository {repo_id} has no config.json and model.safetensors/pytorch_model.bin")
    return config.parent


def _read_weights(directory: Path) -> dict[str, np.ndarray]:
    if (directory / "model.safetensors").is_file():
        from safetensors.numpy import load_file

        return load_file(directory / "model.safetensors")
    if (directory / "model.safetensors.index.json").is_file():
        from safetensors.numpy import load_file

        shards = set(_read_json(directory / "model.safetensors.index.json")["weight_map"].values())
        return {name: value for shard in sorted(shards) for name, value in load_file(directory / shard).items()}
    if (directory / "pytorch_model.bin").is_file():
        try:
            import torch
        except ImportError:
            raise PretrainedCheckpointError(f"{directory}/pytorch_model.bin needs PyTorch to read (pip install torch); "
                                  "model.safetensors does not") from None
        state = torch.load(directory / "pytorch_model.bin", map_location="cpu", weights_only=True)
        return {name: tensor.float().numpy() for name, tensor in state.items() if tensor.is_floating_point()}
    raise PretrainedCheckpointError(f"{directory} has none of {', '.join(WEIGHT_FILES)}")


def _normalization(directory: Path) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) of the checkpoint's image processor; ImageNet's when it has none; (0, 1) if it does not normalize."""
    path = directory / "preprocessor_config.json"
    if not path.is_file():
        return IMAGENET_MEAN, IMAGENET_STD
    processor = _read_json(path)
    if not processor.get("do_normalize", True):
        return (0.0,), (1.0,)
    return tuple(processor.get("image_mean", IMAGENET_MEAN)), tuple(processor.get("image_std", IMAGENET_STD))


def _per_channel(values, channels: int) -> tuple[float, ...]:
    return tuple(float(v) for v in np.broadcast_to(np.asarray(values, np.float64), (channels,)))


def _square(config: dict, key: str, default: int) -> int:
    value = config.get(key, default)
    sides = {int(v) for v in value} if isinstance(value, (list, tuple)) else {int(value)}
    if len(sides) != 1:
        raise PretrainedCheckpointError(f"config.json {key}={value}: only square images and patches are supported")
    return sides.pop()


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise PretrainedCheckpointError(f"cannot read {path}: {error}") from None
