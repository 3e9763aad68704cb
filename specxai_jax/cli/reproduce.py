"""Reproduce one figure or table of the paper: ``python -m experiments.reproduce --target NAME --out DIR``.

    python -m experiments.reproduce --target fig2 [--dataset SPEC] [--quick] --out DIR

Targets: fig2, fig3, fig5, fig6, fig7, fig8, fig9, fig11, tab1, tab2, tab4, theorem1 and plane
(:mod:`specxai_jax.reproduction.targets`). Each writes its figure(s), the CSV behind them and ``target.json``
(every run's settings and command, the paper's claim and our checks of it). ``--quick`` runs a reduced
version on synthetic data in minutes on CPU; without it, the paper's settings.
"""

from __future__ import annotations

import sys
from typing import Sequence

from specxai_jax.cli import runtime, validation
from specxai_jax.reproduction import targets


def build_parser() -> validation.OneLineArgumentParser:
    parser = validation.OneLineArgumentParser(prog="python -m experiments.reproduce",
                                              description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--target", required=True, choices=list(targets.TARGETS), help="the figure or table to reproduce")
    add("--dataset", type=validation.dataset_spec, help="replace the dataset of every run (e.g. tfds:cifar10, synthetic:size=32)")
    add("--data-dir", help="where TFDS keeps prepared datasets (TFDS's default if unset)")
    add("--split", help="tfds: the test split (EVAL) or both (TRAIN,EVAL), e.g. validation or train[:90%%],train[90%%:]")
    add("--quick", action="store_true", help="reduced settings on synthetic data (minutes on CPU)")
    add("--out", type=validation.writable_dir, required=True, help="output directory")
    add("--input-noise", type=validation.nonnegative_float,
        help="std of Gaussian noise on training inputs, for every sweep (App. B: negligible effect; "
             "unset: each sweep's own)")
    add("--no-cap", action="store_true", help="train every sweep's models for --max-epochs, without the accuracy cap")
    add("--seeds", type=validation.seed_list, help="every run's seeds, comma-separated (default: 0,1 with --quick, "
        "else 0,1,2)")
    add("--fresh", action="store_true", help="recompute the runs instead of resuming")
    add("--no-progress", action="store_true", help="hide progress bars")
    add("--pretrained", nargs="+", type=validation.text_list, metavar="DIR_OR_HUB_NAME[,...]",
        help="tab2: Hugging Face ResNet/ViT checkpoints to explain as the paper did, comma-separated (e.g. "
             "microsoft/resnet-50,google/vit-base-patch16-224, or save_pretrained directories); without it, models "
             "trained from scratch")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.pretrained and args.target != "tab2":
        parser.error(f"--pretrained applies to --target tab2 only, not {args.target}; drop it")
    runtime.use_compile_cache()
    runtime.use_cpu_devices()   # before JAX starts: the sweeps train one model per core
    pretrained = [name for names in args.pretrained or () for name in names]
    record = targets.reproduce(args.target, args.out, quick=args.quick, dataset=args.dataset,
                               progress=not args.no_progress, fresh=args.fresh, data_dir=args.data_dir,
                               split=args.split, pretrained=pretrained, input_noise=args.input_noise,
                               no_cap=args.no_cap, seeds=args.seeds or ())
    held = sum(c["holds"] is True for c in record["checks"])
    print(f"{record['title']}: {held} of {len(record['checks'])} checks of the paper's claims hold; "
          f"{record['seconds']:.0f}s; wrote {args.out}/target.json, {', '.join(record['figures'])}, "
          f"{', '.join(record['tables'])}")
    return 0


if __name__ == "__main__":
    validation.cli_entry(main, sys.argv[1:])
