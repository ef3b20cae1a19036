"""Training state on disk: `runs/<run>/checkpoints/ckpt-<step>` (TensorFlow checkpoints).

Each checkpoint holds the model's weights, the optimizer's state (its step counter included) and
the dropout layers' random states, written every `trainer.checkpoint_every` steps and at the end,
in the background while training goes on (`Checkpoints`); the newest `trainer.keep_checkpoints`
are kept. A restarted run restores the newest one and
carries on from its step. The run's `config.yaml` and `preprocessor.json` rebuild the model they
belong to.

A write that fails for lack of disk space removes what it had written and raises
`DiskFullError` naming the last good checkpoint; the leftovers of a write that was killed
(`ckpt-<step>_temp/` folders, `checkpoint.tmp*` files) are removed when training starts.
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
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


TrainingState = tuple[keras.Model, keras.optimizers.Optimizer]


class Checkpoints:
    """The checkpoints of one run, written in the background.

    `save` copies the training state into variables in host memory (a second model and
    optimizer, built by `build` outside the distribution strategy, so its checkpoints restore
    into the live ones) and returns; a thread writes that copy while the next steps run. `wait`
    blocks until the write is complete and raises its error (`DiskFullError`); `save` waits for
    the previous write first, and training calls `close` before it ends or exits preempted.

    TensorFlow's own asynchronous checkpoints (`CheckpointOptions(enable_async=True)`) fail
    from the second save on a Keras 3 model: Keras' variables create a new `tf.Variable` inside
    TensorFlow's copy function each time.
    """

    def __init__(
        self,
        directory: Path,
        live: TrainingState,
        build: Callable[[], TrainingState],
        keep: int,
        writer: bool = True,
    ) -> None:
        # Every worker copies its state (reading distributed variables may take part in a
        # collective); only the chief writes, into the run directory every worker restores from.
        self.directory, self._writer = directory, writer
        if writer:
            _remove_partial(directory, "*")
        self._checkpoint = _checkpoint(*live)
        with tf.device("/cpu:0"):
            host = build()
        self._copy = _checkpoint(*host)
        self._pairs = list(zip(_variables(*host), _variables(*live), strict=True))
        self._manager = tf.train.CheckpointManager(
            self._copy, str(directory), max_to_keep=keep, checkpoint_name="ckpt"
        )
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
        self._writing: Future[str] | None = None
        self._step: int | None = None

    def restore_latest(self) -> str | None:
        """Restore the newest checkpoint, if any; its path."""
        latest = tf.train.latest_checkpoint(str(self.directory))
        if latest:
            self._checkpoint.restore(latest).assert_existing_objects_matched()
            self._copy.save_counter.assign(self._checkpoint.save_counter)
        return latest

    def save(self, step: int) -> None:
        """Copy the state and start writing it as checkpoint `step`."""
        self.wait()
        for host, live in self._pairs:
            host.assign(live)
        if self._writer:
            self._step = step
            self._writing = self._thread.submit(self._manager.save, checkpoint_number=step)

    def wait(self) -> None:
        writing, self._writing = self._writing, None
        if writing is None:
            return
        try:
            writing.result()
        except (OSError, tf.errors.OpError) as error:
            if not _is_disk_full(error):
                raise
            _remove_partial(self.directory, str(self._step), written=True)
            path, last_good = self.directory / f"ckpt-{self._step}", self._manager.latest_checkpoint
            raise DiskFullError(str(path), last_good) from error

    def close(self) -> None:
        self.wait()
        self._thread.shutdown()


def _checkpoint(model: keras.Model, optimizer: keras.optimizers.Optimizer) -> tf.train.Checkpoint:
    # The dropout layers' random states too (tf.train.Checkpoint does not reach them through
    # the model): a resumed run draws the masks an uninterrupted one would have.
    random_states = [v for v in model.variables if v.name == "seed_generator_state"]
    return tf.train.Checkpoint(model=model, optimizer=optimizer, random_states=random_states)


def _variables(model: keras.Model, optimizer: keras.optimizers.Optimizer) -> list[keras.Variable]:
    return [*model.variables, *optimizer.variables]


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
