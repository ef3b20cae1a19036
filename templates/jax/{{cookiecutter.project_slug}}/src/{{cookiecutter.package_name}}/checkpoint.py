"""Checkpoints with Orbax: asynchronous, the newest `trainer.keep_checkpoints` kept.

`runs/<name>/checkpoints/<step>/` holds three items: `model` (parameters, batch statistics and
the dropout RNG state), `optimizer` (its state and step count) and `data` (each process's position
in the training stream, from Grain). `save` returns once the arrays are copied off the devices;
the files are written in the background while training goes on, and the directory gets its
final name only when complete, so a run killed mid-write resumes from the checkpoint before.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import grain
import jax.numpy as jnp
import orbax.checkpoint as ocp
from flax import nnx
from jax.sharding import Mesh

from {{ cookiecutter.package_name }} import devices
from {{ cookiecutter.package_name }}.config import Config, load_config
from {{ cookiecutter.package_name }}.data import PREPROCESSOR_FILE, Preprocessor
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.model import create_model
from {{ cookiecutter.package_name }}.runs import Run


class DiskFull(Exception):
    """The disk filled up while a checkpoint was written; its partial files are removed."""


class Checkpoints:
    """The checkpoints of one run. Leftovers of an interrupted write are removed at the start;
    a full disk stops training with `DiskFull`, the partial checkpoint removed."""

    def __init__(self, directory: Path, keep: int) -> None:
        _quiet_orbax()
        self.directory = directory
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, enable_async_checkpointing=True, cleanup_tmp_directories=True
        )
        self._manager = ocp.CheckpointManager(directory.resolve(), options=options)
        self._writing: int | None = None

    @property
    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(
        self, step: int, model: nnx.Module, optimizer: nnx.Optimizer, data: grain.DatasetIterator
    ) -> None:
        """Start writing a checkpoint; returns once the arrays are copied off the devices."""
        self.wait()
        items = ocp.args.Composite(
            model=ocp.args.StandardSave(nnx.state(model)),
            optimizer=ocp.args.StandardSave(nnx.state(optimizer)),
            data=grain.checkpoint.CheckpointSave(data),
        )
        self._writing = step
        with self._stop_when_disk_full():
            self._manager.save(step, args=items)

    def restore(
        self, step: int, model: nnx.Module, optimizer: nnx.Optimizer, data: grain.DatasetIterator
    ) -> None:
        """Load a checkpoint into the objects, onto the shardings they have."""
        items = ocp.args.Composite(
            model=ocp.args.StandardRestore(nnx.state(model)),
            optimizer=ocp.args.StandardRestore(nnx.state(optimizer)),
            data=grain.checkpoint.CheckpointRestore(data),
        )
        restored = self._manager.restore(step, args=items)
        nnx.update(model, restored.model)
        nnx.update(optimizer, restored.optimizer)

    def wait(self) -> None:
        """Block until the checkpoint being written, if any, is complete."""
        with self._stop_when_disk_full():
            self._manager.wait_until_finished()
        self._writing = None

    def close(self) -> None:
        self.wait()
        self._manager.close()

    @contextlib.contextmanager
    def _stop_when_disk_full(self) -> Iterator[None]:
        try:
            yield
        except Exception as error:
            if not _is_disk_full(error):
                raise
            if devices.is_primary():
                for partial in self.directory.glob("*.orbax-checkpoint-tmp*"):
                    shutil.rmtree(partial, ignore_errors=True)
            complete = [
                int(p.name)
                for p in self.directory.iterdir()
                if p.name.isdigit() and int(p.name) != self._writing
            ]
            last = self.directory / str(max(complete)) if complete else "none"
            raise DiskFull(
                f"disk full writing checkpoint {self.directory / str(self._writing)};"
                f" the last good checkpoint is {last}"
            ) from None


def _is_disk_full(error: BaseException | None) -> bool:
    """ENOSPC, raised as OSError or wrapped in TensorStore's RESOURCE_EXHAUSTED message."""
    while error is not None:
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            return True
        if "No space left on device" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


class _DropOrbaxRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "orbax" not in record.pathname


def _quiet_orbax() -> None:
    """Orbax logs every failure of its background threads, traceback included; the failure
    reaches `wait` or `save` as an exception anyway, so its log records are dropped."""
    logger = logging.getLogger("absl")
    if not any(isinstance(f, _DropOrbaxRecords) for f in logger.filters):
        logger.addFilter(_DropOrbaxRecords())


@dataclass(frozen=True)
class Trained:
    """A trained model in eval mode, with what evaluation and export need around it."""

    run: Run
    step: int
    config: Config
    preprocessor: Preprocessor
    mesh: Mesh
    model: nnx.Module


def load_trained(
    path: Path, overrides: Sequence[str] = (), dtype: jnp.dtype | None = None
) -> Trained:
    """The model of a checkpoint (`runs/<name>/checkpoints/<step>`, or a run for its latest),
    with the run's config plus `overrides`; computing in `dtype` (default: the run's precision).
    """
    run = Run.containing(path.resolve())
    step = _step_of(path.resolve(), run)
    config = load_config(run.config_file, overrides)
    preprocessor = Preprocessor.load(run.root / PREPROCESSOR_FILE)
    mesh = devices.create_mesh(config.trainer)
    dtype = dtype or devices.compute_dtype(config.trainer.precision)
    graph, abstract = nnx.get_abstract_model(
        lambda: create_model(config.model, preprocessor, dtype, nnx.Rngs(0)), mesh
    )
    with ocp.CheckpointManager(run.checkpoints) as manager:
        restored = manager.restore(
            step, args=ocp.args.Composite(model=ocp.args.StandardRestore(abstract))
        )
    model = nnx.merge(graph, restored.model)
    model.eval()
    return Trained(run, step, config, preprocessor, mesh, model)


def _step_of(path: Path, run: Run) -> int:
    if path in (run.root, run.checkpoints):
        with ocp.CheckpointManager(run.checkpoints) as manager:
            step = manager.latest_step()
        if step is None:
            raise UserError(f"{run.checkpoints}: no checkpoint yet")
        return step
    if path.parent == run.checkpoints and path.name.isdigit() and path.is_dir():
        return int(path.name)
    raise UserError(f"{path}: not a checkpoint (expected {run.checkpoints}/<step> or the run)")
