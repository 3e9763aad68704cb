"""Runs over several processes (hosts) with JAX's multi-controller runtime, ``jax.distributed``.

Every process runs the same command on the same shared output directory. After :func:`initialize`,
each process loads its own copy of the data, trains and explains its share of the models
(:func:`share`: model i goes to process i mod P) on its own devices, and writes each model it
trained; after a barrier, process 0 reads every model back and writes the outputs (results.csv,
figures, report) once. Models are independent, so the processes exchange no data: the barriers are
the only collectives, and on CPU a model's numbers are the ones a one-process run gives it (the
per-device engine trains each model alone; see :mod:`specxai_jax.training.train`).

In a multi-process run orbax writes only host (NumPy) arrays, and only from process 0, so every
process writes each model it trained as plain files into ``OUT/spool/`` (:class:`SpoolStore`), and
process 0 moves them into the store after the barrier (:func:`adopt_spool`).

A single process (no flags, no cluster) is the plain run: every helper here is then a no-op.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
from typing import Any, Callable, ContextManager, Mapping, Sequence, TypeVar

import jax
import numpy as np
from flax import traverse_util

from specxai_jax.errors import UsageError
from specxai_jax.storage import atomic
from specxai_jax.storage.store import ResultStore

Item = TypeVar("Item")


@dataclasses.dataclass(frozen=True)
class Launch:
    """How to join a multi-process run: JAX's own ``jax.distributed.initialize`` arguments, each None
    to take it from the cluster's environment (SLURM, TPU pods, Open MPI …); ``auto`` joins with all
    of them detected."""

    coordinator: str | None = None      # "host:port" of process 0
    num_processes: int | None = None
    process_id: int | None = None
    auto: bool = False

    @property
    def requested(self) -> bool:
        return self.auto or any(value is not None for value in (self.coordinator, self.num_processes, self.process_id))


def initialize(launch: Launch) -> None:
    """Join the run described by ``launch`` (nothing if it asks for none); call before JAX's backend starts.

    CPU processes exchange their barrier through gloo (XLA:CPU has no other cross-process collectives).
    Raises :class:`UsageError` (one line) when the arguments are incomplete or the coordinator cannot be reached.
    """
    if not launch.requested:
        return
    if launch.process_id is not None and launch.num_processes is not None and not 0 <= launch.process_id < launch.num_processes:
        raise UsageError(f"--process-id {launch.process_id} must lie in 0..{launch.num_processes - 1} "
                         f"(--num-processes {launch.num_processes})")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(coordinator_address=launch.coordinator, num_processes=launch.num_processes,
                                   process_id=launch.process_id)
    except (ValueError, RuntimeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(f"cannot join the multi-process run (--coordinator/--num-processes/--process-id, or a "
                         f"cluster JAX detects): {first}") from None


def process_count() -> int:
    return jax.process_count()


def is_main() -> bool:
    """True in process 0 (and in a single-process run): the one that writes shared outputs."""
    return jax.process_index() == 0


def share(items: Sequence[Item]) -> list[Item]:
    """This process's share of ``items``: every P-th, starting at its index (all of them for one process)."""
    return list(items[jax.process_index()::jax.process_count()])


def barrier(name: str) -> None:
    """Wait until every process reaches the barrier ``name`` (nothing for one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def main_holds(lock: Callable[[], ContextManager]) -> ContextManager:
    """``lock()`` in process 0, nothing in the others: process 0 holds a shared store for the whole run."""
    return lock() if is_main() else contextlib.nullcontext()


class SpoolStore:
    """A process's view of the shared store during its share: reads come from the shared ``store``; each saved model and
    result goes, as plain files, to ``store.root / "spool"`` for :func:`adopt_spool`."""

    def __init__(self, store: ResultStore):
        self.store, self.root = store, store.root
        self.spool = store.root / "spool"

    def load_checkpoint(self, key: str, **options):
        return self.store.load_checkpoint(key, **options)

    def load_result(self, key: str, **options):
        return self.store.load_result(key, **options)

    def save_checkpoint(self, key: str, variables: dict, metadata: dict) -> dict:
        """One model as ``KEY.checkpoint.npz`` (leaves by "/"-joined path) and ``KEY.checkpoint.json``."""
        leaves = traverse_util.flatten_dict(jax.device_get(variables), sep="/")
        self._write(key, "checkpoint", metadata, {name: np.asarray(leaf) for name, leaf in leaves.items()})
        return atomic.from_json(atomic.to_json(metadata))

    def save_result(self, key: str, record: dict, arrays: Mapping[str, np.ndarray] | None = None, *,
                    explain_key: str = "") -> dict:
        self._write(key, f"result-{explain_key}", {"record": record, "explain_key": explain_key}, dict(arrays or {}))
        return atomic.from_json(atomic.to_json(record))

    def _write(self, key: str, kind: str, content: Any, arrays: dict) -> None:
        self.spool.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic.write_bytes(self.spool / f"{key}.{kind}.npz", buffer.getvalue())
        atomic.write_json(self.spool / f"{key}.{kind}.json", content)     # written last: the pair is complete


def adopt_spool(store: ResultStore) -> int:
    """Move every spooled model into ``store`` (its checkpoint first, then its results); returns how many."""
    spool = store.root / "spool"
    moved = 0
    for kind in ("checkpoint", "result"):
        for described in sorted(spool.glob(f"*.{kind}*.json")) if spool.is_dir() else []:
            key = described.name.split(".")[0]
            content = atomic.from_json(described.read_text(encoding="utf-8"))
            stored = described.with_suffix(".npz")
            with np.load(stored, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
            if kind == "checkpoint":
                store.save_checkpoint(key, traverse_util.unflatten_dict(arrays, sep="/"), content)
                moved += 1
            else:
                store.save_result(key, content["record"], arrays, explain_key=content["explain_key"])
            stored.unlink()
            described.unlink()
    return moved


def each_does_its_share(items: Sequence[Item], store: ResultStore,
                        work: Callable[[list[Item], ResultStore | SpoolStore], object]) -> bool:
    """Multi-process: every process runs ``work(its share, a SpoolStore of store)``, all wait for each
    other, and process 0 moves the spool into ``store``.

    Returns whether this process goes on to the shared part (process 0, or the only process; ``work``
    does not run when there is one process: the caller's own run covers every item).
    """
    if jax.process_count() == 1:
        return True
    barrier("specxai: before the shares")
    work(share(items), SpoolStore(store))
    barrier("specxai: every share written")
    if is_main():
        adopt_spool(store)
    return is_main()
