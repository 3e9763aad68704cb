"""``specxai-prepare NAME [NAME ...] [--data-dir DIR]``: download and prepare TFDS datasets.

Run it once where there is network access (e.g. ``fashion_mnist cifar10 imagenette/160px-v2``); then pass the
same ``--data-dir`` to the experiments, which read the prepared data offline. Data is prepared as
array_record (random access: only the examples used are decoded).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from specxai_jax.cli import validation
from specxai_jax.data.load import tfds_module


def tfds_name(text: str) -> str:
    """A TFDS name NAME[/CONFIG][:VERSION] (a leading ``tfds:`` is dropped)."""
    name = str(text).strip().removeprefix("tfds:")
    if not validation.TFDS_NAME.fullmatch(name):
        raise argparse.ArgumentTypeError(f"{text!r} is not a TFDS dataset name; write NAME[/CONFIG][:VERSION] such as "
                                         "mnist, cifar10 or imagenette/160px-v2")
    return name


def main(argv: Sequence[str] | None = None) -> int:
    parser = validation.OneLineArgumentParser(prog="specxai-prepare",
                                              description="Download and prepare TFDS datasets (needs network).")
    parser.add_argument("names", nargs="+", type=tfds_name, help="TFDS names, e.g. fashion_mnist cifar10 imagenette/160px-v2")
    parser.add_argument("--data-dir", help="where TFDS keeps prepared datasets (TFDS's default if unset)")
    args = parser.parse_args(argv)
    logging.getLogger("absl").setLevel(logging.ERROR)  # TFDS's warnings would come before our one error line
    for name in args.names:
        builder = tfds_module().get_builder(name, args.data_dir)
        print(f"tfds:{name} is prepared in {builder.data_dir}")
    return 0


if __name__ == "__main__":
    validation.cli_entry(main, sys.argv[1:])
