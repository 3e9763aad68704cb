"""Explanation gap of post-hoc methods (the paper's Tables 1, 2 and 4, Fig. 13).

    python -m experiments.explanation_gap --dataset synthetic --models cnn-relu,cnn-softplus:3 --out DIR

Flags → :class:`specxai_jax.configs.GapConfig` (``GAP_QUICK`` with --quick) → :func:`specxai_jax.gap.run`,
which writes gap.csv, gap_vs_sigma.csv, table.md, fig_maps.png, fig_gap_vs_sigma.png and config.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Sequence

from specxai_jax import gap
from specxai_jax.cli import runtime, validation
from specxai_jax.configs import GAP_QUICK, GapConfig
from specxai_jax.data.load import MAX_IMG_SIZE


def _comma(values) -> str | None:
    """A tuple default as --help and the flag spell it, e.g. 0.02,0.05 (None when empty)."""
    return ",".join(map(str, values)) or None


def checkpoint_dir(text: str) -> str:
    """argparse type: a writable directory (created if needed), as a string."""
    return str(validation.writable_dir(text))


MAX_GAP_DEPTH = 100  # conv blocks, ResNet stages or ViT blocks: far above any of the paper's models


def build_parser(base: GapConfig = GapConfig()) -> validation.OneLineArgumentParser:
    """The command line: every GapConfig field is the flag of the same name, its default taken from ``base``."""
    parser = validation.OneLineArgumentParser(prog="python -m experiments.explanation_gap",
                                              description=__doc__.split("\n\n")[0])

    caps = parser.add_mutually_exclusive_group()   # --acc-cap and --no-cap contradict each other

    def add(flag, group=parser, **options):
        name = flag[2:].replace("-", "_")
        if hasattr(base, name):
            value = getattr(base, name)
            options.setdefault("default", _comma(value) if isinstance(value, tuple) else value)
        group.add_argument(flag, **options)

    add("--dataset", type=validation.dataset_spec, help="synthetic[:k=v,..], tfds:NAME, npz:PATH or folder:PATH")
    add("--data-dir", help="where TFDS keeps prepared datasets (TFDS's default if unset)")
    add("--split", help="tfds: the test split (EVAL) or both (TRAIN,EVAL), e.g. validation or "
                        "train[:90%%],train[90%%:]")
    add("--models", nargs="+", type=validation.model_spec_list,
        help="model specs FAMILY-ACTIVATION[:β], comma-separated, e.g. cnn-relu,cnn-softplus:3,vit-gelu,resnet-relu")
    add("--pretrained", nargs="+", type=validation.text_list, metavar="DIR_OR_HUB_NAME[,...]",
        help="explain these Hugging Face ResNet/ViT checkpoints (save_pretrained directories or hub names) "
             "instead of training --models; images at the ViT's size (else --img-size, default 224)")
    add("--out", type=validation.writable_dir, required=True, help="output directory")
    add("--checkpoint-dir", type=checkpoint_dir,
        help="keep trained models in DIR/models and reuse those of the same settings (unset: nothing is kept)")
    add("--fresh", action="store_true", help="retrain every model instead of reusing those in --checkpoint-dir")
    add("--quick", action="store_true", help="small data, few epochs and images (minutes on CPU); "
                                             "--quick --help shows its defaults")
    add("--img-size", type=validation.int_in_range(1, MAX_IMG_SIZE), help="image side")
    add("--depth", type=validation.int_in_range(1, MAX_GAP_DEPTH), help="conv blocks / ResNet stages / ViT blocks (unset: the model's)")
    add("--n-explain", type=validation.positive_int, help="test images explained per model")
    add("--n-images", dest="n_explain", type=validation.positive_int, default=argparse.SUPPRESS,
        help=argparse.SUPPRESS)  # the flag's former name
    add("--max-train", type=validation.positive_int, help="use at most this many training images")
    add("--max-test", type=validation.positive_int, help="use at most this many test images")
    add("--lr", type=validation.positive_float, help="Adam learning rate")
    add("--acc-cap", caps, type=validation.fraction, help="stop training once test accuracy reaches this")
    add("--no-cap", caps, dest="acc_cap", action="store_const", const=None, default=argparse.SUPPRESS,
        help="train every model for --max-epochs")
    add("--max-epochs", type=validation.positive_int, help="most epochs a model trains")
    add("--smooth-sigma", type=validation.positive_float, help="SmoothGrad σ of the table")
    add("--sigmas", nargs="+", type=validation.positive_float_list, help="σ grid for G vs ΔEF, comma-separated")
    add("--samples", type=validation.positive_int, help="SmoothGrad noise samples (≥ 2: G uses two halves)")
    add("--ig-steps", type=validation.positive_int, help="IntGrad quadrature nodes")
    add("--seed", type=validation.int_in_range(0, validation.MAX_SEED), help="initialisation, data order and SmoothGrad noise")
    add("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _flatten(value):
    """A list flag's values, given as one comma list or several (each parsed to a list), as one tuple."""
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], list):
        return tuple(item for part in value for item in part)
    return tuple(value) if isinstance(value, list) else value


def parse_args(argv: Sequence[str] | None = None) -> tuple[GapConfig, argparse.Namespace]:
    """(the run's GapConfig, the parsed flags); the defaults are GAP_QUICK's with --quick, GapConfig's
    otherwise; with --pretrained an unset --img-size takes the checkpoints' size."""
    pre = validation.OneLineArgumentParser(add_help=False)
    pre.add_argument("--quick", action="store_true")
    pre.add_argument("--pretrained", nargs="+")
    known, _ = pre.parse_known_args(argv)
    base = GAP_QUICK if known.quick else GapConfig()
    if known.pretrained:
        base = dataclasses.replace(base, img_size=None)
    args = build_parser(base).parse_args(argv)
    fields = {field.name: _flatten(getattr(args, field.name)) for field in dataclasses.fields(GapConfig)}
    fields["pretrained"] = fields["pretrained"] or ()
    config = GapConfig(**fields)
    gap.validate(config)
    return config, args


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the flags, apply the runtime settings, run; 0 on success."""
    config, args = parse_args(argv)
    runtime.use_compile_cache()
    gap.run(config, args.out, progress=not args.no_progress, fresh=args.fresh)
    print(f"wrote {args.out}/gap.csv, gap_vs_sigma.csv, table.md, fig_maps.png, fig_gap_vs_sigma.png, config.json")
    return 0


if __name__ == "__main__":
    validation.cli_entry(main, sys.argv[1:])
