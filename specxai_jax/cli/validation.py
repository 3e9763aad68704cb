"""Checks for every value a user types, and a command-line wrapper that turns their errors into one line.

The ``argparse`` ``type=`` helpers raise ``argparse.ArgumentTypeError`` with a one-line message;
:class:`OneLineArgumentParser` prints it as ``error: ...`` (no usage block) and exits 2; :func:`cli_entry`
does the same for :class:`UsageError`, dataset errors and corrupt checkpoints raised later.
"""

from __future__ import annotations

import argparse
import errno
import math
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

from specxai_jax.errors import USER_ERRORS
from specxai_jax.ops.activations import parse_beta

USAGE_EXIT = 2
INTERRUPT_EXIT = 130
MAX_SEED = 2**32 - 1                     # seeds are uint32 (JAX's PRNG seed)
BETA_RANGE = (1.1754944e-38, 3.4028235e38)  # float32's normal range: β outside it is 0 or inf on the device
MAX_DEPTH = 12                           # 2**12 = 4096 px, the largest image side a dataset may have
TFDS_NAME = re.compile(r"[a-z][a-z0-9_]*(/[A-Za-z0-9_.+-]+)?(:[0-9]+\.[0-9*]+\.[0-9*]+)?")  # name[/config][:version]
_STORAGE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)  # a full or read-only disk: the user's to fix




def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _number(text, "a positive number")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number ≥ 0, e.g. a noise level."""
    value = _number(text, "a non-negative number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative number, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A number in (0, 1], e.g. an accuracy cap."""
    value = _number(text, "a fraction in (0, 1]")
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in (0, 1] such as 0.9, got {text!r}")
    return value


def _integer(text: str, what: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None


def positive_int(text: str) -> int:
    """An integer ≥ 1."""
    value = _integer(text, "a positive integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    """An integer ≥ 0."""
    value = _integer(text, "a non-negative integer")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return value


def _distinct_items(text: str, parse_one: Callable[[str], Any], noun: str, example: str) -> list:
    """Comma- or space-separated items of ``text``, each parsed by ``parse_one`` (which raises
    ArgumentTypeError), at least one, none repeated."""
    items = [item for item in re.split(r"[,\s]+", str(text)) if item]
    if not items:
        raise argparse.ArgumentTypeError(f"needs at least one {noun}, e.g. {example}")
    values: list = []
    for item in items:
        value = parse_one(item)
        if value in values:
            raise argparse.ArgumentTypeError(f"{noun} {item!r} is listed twice in {text!r}")
        values.append(value)
    return values


def _penalty(item: str) -> float:
    try:
        weight = float(item)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{item!r} is not a number") from None
    if not math.isfinite(weight) or weight < 0:
        raise argparse.ArgumentTypeError(f"weight {item!r} must be a finite number ≥ 0")
    return weight


def penalty_list(text: str) -> list[float]:
    """Comma- or space-separated penalty weights λ ≥ 0, finite, none repeated."""
    return _distinct_items(text, _penalty, "weight", "0,0.3,1")


def int_in_range(low: int, high: int, why: str = "") -> Callable[[str], int]:
    """An ``argparse`` type: an integer in [low, high]; the bound is checked before the value is used."""

    def parse(text: str) -> int:
        value = _integer(text, f"an integer from {low} to {high}")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be an integer from {low} to {high}{why}, got {text!r}")
        return value

    return parse


def _beta(item: str) -> float:
    try:
        beta = parse_beta(item)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if math.isinf(beta) and item.strip().lower() not in ("relu", "inf", "+inf", "infinity"):
        raise argparse.ArgumentTypeError(f"β {item!r} overflows to infinity; write relu for β = inf")
    if math.isfinite(beta) and not BETA_RANGE[0] <= beta <= BETA_RANGE[1]:
        raise argparse.ArgumentTypeError(f"β {item!r} is outside float32's range [{BETA_RANGE[0]:.2g}, "
                                         f"{BETA_RANGE[1]:.2g}] (it would become 0 or inf); use relu for β = inf")
    return beta


def beta_list(text: str) -> list[float]:
    """Comma- or space-separated β values ('relu'/'inf' → inf), each positive, none repeated."""
    return _distinct_items(text, _beta, "β", "1,3,10,relu")


def seed_list(text: str) -> list[int]:
    """Comma- or space-separated distinct integers in [0, 2³² − 1], e.g. '0,1,2'."""
    items = [item for item in re.split(r"[,\s]+", str(text)) if item]
    seeds = [nonnegative_int(item) for item in items]
    if any(seed > MAX_SEED for seed in seeds):
        raise argparse.ArgumentTypeError(f"seeds must lie in [0, {MAX_SEED}], got {text!r}")
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"needs distinct non-negative integers such as 0,1,2, got {text!r}")
    return seeds


def positive_float_list(text: str) -> list[float]:
    """Comma- or space-separated distinct positive numbers, e.g. '0.05,0.1,0.2'."""
    values = [positive_float(item) for item in re.split(r"[,\s]+", str(text)) if item]
    if not values or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"needs distinct positive numbers such as 0.05,0.1,0.2, got {text!r}")
    return values


def text_list(text: str) -> list[str]:
    """Comma-separated non-empty items (names or paths), e.g. 'a,b'; spaces around an item are dropped."""
    items = [item.strip() for item in str(text).split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"needs comma-separated names without empty items, got {text!r}")
    return items


def model_spec_list(text: str) -> list[str]:
    """Comma-separated model specs FAMILY-ACTIVATION[:β] (e.g. 'cnn-relu,cnn-softplus:3'), each in its
    canonical spelling, none repeated."""
    from specxai_jax.models.registry import parse_model_spec  # deferred: importing models loads Flax

    try:
        names = [parse_model_spec(item).name for item in re.split(r"[,\s]+", str(text)) if item]
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if not names or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"needs distinct model specs such as cnn-relu,cnn-softplus:3, got {text!r}")
    return names


def dataset_spec(text: str) -> str:
    """A dataset spec whose form is valid (synthetic[:k=v,..], tfds:NAME, npz:PATH, folder:PATH); paths
    are checked when the dataset loads."""
    from specxai_jax.data import DataError, parse_spec  # deferred: the data package is heavy to import

    try:
        parsed = parse_spec(text)
    except DataError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if parsed.scheme == "tfds" and not TFDS_NAME.fullmatch(parsed.target):
        raise argparse.ArgumentTypeError(f"{parsed.target!r} is not a TFDS dataset name; write tfds:NAME[/CONFIG][:VERSION] "
                                         "such as tfds:mnist or tfds:cifar10")
    if parsed.scheme == "synthetic":
        names = [item.split("=")[0].strip() for item in text.partition(":")[2].split(",") if item.strip()]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise argparse.ArgumentTypeError(f"synthetic option(s) {', '.join(repeated)} given more than once in {text!r}")
    return text


def writable_dir(text: str) -> Path:
    """A directory that exists (created if needed) and accepts new files; an empty path is refused (it
    would mean the current directory without saying so)."""
    if not str(text).strip():
        raise argparse.ArgumentTypeError("is empty; name a directory, e.g. runs/mine (or . for the current one)")
    path = Path(text).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        reason = error.strerror or error.__class__.__name__
        raise argparse.ArgumentTypeError(f"cannot write to directory {text!r} ({reason}); choose another path") from None
    return path


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """--help lists each flag's default after its help, where it has one (not None, not a switch)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is None or action.default is False or action.default == argparse.SUPPRESS:
            return text
        if "%(default)" in text or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


class OneLineArgumentParser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line, ``error: <message> (see --help)``, exit code 2, and whose
    --help shows every default."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        for arg in sys.argv[1:] if args is None else args:
            if isinstance(arg, str) and arg.startswith("--") and arg.partition("=")[2] == "--":
                self.error(f"{arg.partition('=')[0]}: '--' is not a value")  # argparse would drop it silently
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        if "expected one argument" in message:  # e.g. --betas -inf: argparse takes "-inf" for a flag
            message += "; write a value that starts with '-' as --flag=VALUE"
        self.exit(USAGE_EXIT, f"error: {_one_line(message)} (see --help)\n")


LIBRARY_ARGUMENT = re.compile(r"`([a-z][a-z0-9_]*)`")
"""How library errors name an argument (`img_size`); the command line shows it as its flag (--img-size)."""


def _one_line(message: str) -> str:
    text = LIBRARY_ARGUMENT.sub(lambda match: "--" + match.group(1).replace("_", "-"), message)
    return " ".join(text.split())


def _storage_error(error: BaseException) -> OSError | None:
    """The full-disk / read-only OSError behind ``error`` (itself, its cause or its context), if any."""
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if isinstance(link, OSError) and link.errno in _STORAGE_ERRORS:
            return link
        link = link.__cause__ or link.__context__
    return None



def _misplaced_path(error: BaseException) -> str | None:
    """"PATH is a directory, not a file" (or the reverse) for an IsADirectoryError/NotADirectoryError."""
    path = error.filename2 or error.filename if isinstance(error, OSError) else None  # a rename names its target second
    if isinstance(error, IsADirectoryError):
        return f"{path} is a directory where a file belongs"
    if isinstance(error, NotADirectoryError):
        return f"{path}: a file stands where a directory belongs"
    return None


def cli_entry(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None, *,
              resume_hint: str = "rerun the same command to resume") -> NoReturn:
    """Run ``main(argv)`` and exit with its return code.

    User errors (UsageError, specxai_jax.data.DataError, CorruptCheckpoint), a full or read-only
    disk (found anywhere in the exception's chain) and a directory where a file belongs (or the reverse)
    → ``error: <message>`` on stderr, exit 2; Ctrl-C → one line that finished results are kept and how to resume, exit 130.
    Anything else is a bug and keeps its traceback.
    """
    try:
        code = main(argv)
    except KeyboardInterrupt:
        print(f"interrupted: finished results are kept; {resume_hint}", file=sys.stderr)
        sys.exit(INTERRUPT_EXIT)
    except Exception as error:
        storage = _storage_error(error)
        if storage is not None:
            where = f" writing {storage.filename}" if storage.filename else ""
            print(f"error: {storage.strerror or storage}{where}; free space or choose another output directory "
                  f"({resume_hint})", file=sys.stderr)
            sys.exit(USAGE_EXIT)
        misplaced = _misplaced_path(error)
        if misplaced is not None:
            print(f"error: {misplaced}; move it away or choose another output directory", file=sys.stderr)
            sys.exit(USAGE_EXIT)
        if not isinstance(error, USER_ERRORS):
            raise
        print(f"error: {_one_line(str(error))}", file=sys.stderr)
        sys.exit(USAGE_EXIT)
    sys.exit(code or 0)
