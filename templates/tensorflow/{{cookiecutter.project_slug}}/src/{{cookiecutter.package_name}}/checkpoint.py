"""Training state on disk: `runs/<run>/checkpoints/ckpt-<step>` (TensorFlow checkpoints).

Each checkpoint holds the model's weights, the optimizer's state (its step counter included) and
the dropout layers' random states, written every `trainer.checkpoint_every` steps and at the end;
the newest `trainer.keep_checkpoints` are kept. A restarted run restores the newest one and
carries on from its step. The run's `config.yaml` and `preprocessor.json` rebuild the model they
belong to.

A write that fails for lack of disk space removes what it had written and raises
`DiskFullError` naming the last good checkpoint; the leftovers of a write that was killed
(`ckpt-<step>_temp/` folders, `checkpoint.tmp*` files) are removed when training starts.
"""

from __future__ import annotations

import errno
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

from {{ cookiecutter.package_name }}.config import Config, load_config
from {{ cookiecutter.package_name }}.data import PREPROCESSOR_FILE, Preprocessor
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.model import build_model
from {{ cookiecutter.package_name }}.runs import Run


class DiskFullError(Exception):
    """The disk filled up while writing a checkpoint; its partial files are removed."""

    def __init__(self, path: str, last_good: str | None) -> None:
        last_good = last_good or "none"
        super().__init__(
            f"disk full writing checkpoint {path}; the last good checkpoint is {last_good}"
        )


class Checkpoints:
    def __init__(
        self,
        directory: Path,
        model: keras.Model,
        optimizer: keras.optimizers.Optimizer,
        keep: int,
        writer: bool = True,
    ) -> None:
        # Every worker takes part in saving; only the chief writes into the run directory, and
        # every worker restores from it.
        target = directory if writer else Path(tempfile.mkdtemp(prefix="checkpoints-"))
        self._directory, self._run_directory = target, directory
        _remove_partial(target, "*")
        # The dropout layers' random states too (tf.train.Checkpoint does not reach them through
        # the model): a resumed run draws the masks an uninterrupted one would have.
        random_states = [v for v in model.variables if v.name == "seed_generator_state"]
        self._checkpoint = tf.train.Checkpoint(
            model=model, optimizer=optimizer, random_states=random_states
        )
        self._manager = tf.train.CheckpointManager(
            self._checkpoint, str(target), max_to_keep=keep, checkpoint_name="ckpt"
        )

    def restore_latest(self) -> str | None:
        """Restore the newest checkpoint, if any; its path."""
        latest = tf.train.latest_checkpoint(str(self._run_directory))
        if latest:
            self._checkpoint.restore(latest).assert_existing_objects_matched()
        return latest

    def save(self, step: int) -> str:
        last_good = self._manager.latest_checkpoint
        try:
            return self._manager.save(checkpoint_number=step)
        except (OSError, tf.errors.OpError) as error:
            if not _is_disk_full(error):
                raise
            _remove_partial(self._directory, str(step), written=True)
            raise DiskFullError(str(self._directory / f"ckpt-{step}"), last_good) from error


def _is_disk_full(error: Exception) -> bool:
    if isinstance(error, OSError):
        return error.errno == errno.ENOSPC
    return isinstance(error, tf.errors.ResourceExhaustedError) or "No space left" in str(error)


def _remove_partial(directory: Path, step: str, written: bool = False) -> None:
    """Remove what interrupted writes of `ckpt-<step>` (`*`: any step) leave: temporary folders and
    state files, and with `written` the checkpoint's own files (a write that failed)."""
    leftovers = [*directory.glob(f"ckpt-{step}_temp*"), *directory.glob("checkpoint.tmp*")]
    if written:
        leftovers += directory.glob(f"ckpt-{step}.*")
    for path in leftovers:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def resolve(path: Path) -> str:
    """A checkpoint prefix from a run directory, a checkpoints folder or a `ckpt-N` prefix."""
    if path.is_dir():
        folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
        latest = tf.train.latest_checkpoint(str(folder))
        if latest is None:
            raise UserError(f"no checkpoint in {folder}")
        return latest
    if not Path(f"{path}.index").is_file():
        raise UserError(f"{path} is not a checkpoint (expected runs/<run> or .../ckpt-<step>)")
    return str(path)


def load_weights(model: keras.Model, path: Path) -> str:
    """Restore only the model's weights (for evaluation and export); the checkpoint used."""
    prefix = resolve(path)
    tf.train.Checkpoint(model=model).read(prefix).expect_partial().assert_existing_objects_matched()
    return prefix


@dataclass(frozen=True)
class Trained:
    model: keras.Model
    preprocessor: Preprocessor
    config: Config
    run: Run
    checkpoint: str


def load_trained(path: Path) -> Trained:
    """The float32 model of the run holding `path`, with the weights of that checkpoint."""
    run = Run.containing(path)
    config = load_config(run.config_file)
    preprocessor = Preprocessor.load(run.root / PREPROCESSOR_FILE)
    keras.config.set_dtype_policy("float32")
    model = build_model(config.model, preprocessor)
    return Trained(model, preprocessor, config, run, load_weights(model, path))
