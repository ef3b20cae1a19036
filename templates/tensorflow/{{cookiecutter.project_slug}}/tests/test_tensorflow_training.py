"""TensorFlow-specific training guarantees: the schedule is the recipe's, a run killed after a
checkpoint and resumed ends where an uninterrupted one does, and a full disk while
checkpointing stops with one line and leaves no partial files."""

import errno
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from {{ cookiecutter.package_name }} import recipe, train
from {{ cookiecutter.package_name }}.checkpoint import Checkpoints, DiskFullError
from {{ cookiecutter.package_name }}.optim import WarmupCosine

from conftest import tiny_overrides


@pytest.mark.parametrize(("warmup", "total"), [(3, 10), (0, 7), (100, 1000), (1, 1)])
def test_schedule_is_the_recipes(warmup: int, total: int) -> None:
    schedule = WarmupCosine(2e-3, warmup, total)
    steps = range(0, total + 2, max(total // 50, 1))
    expected = [recipe.learning_rate(step, 2e-3, warmup, total) for step in steps]
    actual = [float(schedule(step)) for step in steps]
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-12)


class Killed(Exception):
    pass


def checkpoint_tensors(run_dir: Path) -> dict[str, np.ndarray]:
    """Every value the newest checkpoint holds: weights, optimizer and random states."""
    folder = str(run_dir / "checkpoints")
    reader = tf.train.load_checkpoint(folder)
    names = [name for name, _ in tf.train.list_variables(folder)]
    return {n: reader.get_tensor(n) for n in names if not n.startswith("_CHECKPOINTABLE")}


def test_killed_and_resumed_run_ends_with_the_same_weights(
    sample_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shuffling, dropout and augmentation (image) included: four steps, killed after the
    checkpoint at step 2 and resumed, against four steps uninterrupted."""
    overrides = [*tiny_overrides(sample_data, tmp_path, steps=4), "trainer.checkpoint_every=2"]
    train.main([*overrides, "run.name=whole"])
    save = Checkpoints.save

    def save_then_die(self: Checkpoints, step: int) -> None:
        save(self, step)
        if step == 2:
            self.wait()
            raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(Checkpoints, "save", save_then_die)
        with pytest.raises(Killed):
            train.main([*overrides, "run.name=resumed"])
    train.main([*overrides, "run.name=resumed"])
    whole = checkpoint_tensors(tmp_path / "whole")
    resumed = checkpoint_tensors(tmp_path / "resumed")
    assert whole.keys() == resumed.keys()
    different = [name for name in whole if not np.array_equal(whole[name], resumed[name])]
    assert not different, different


def test_disk_full_while_checkpointing_stops_with_one_line(
    sample_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """TensorFlow reports a full disk as a ResourceExhaustedError."""
    overrides = tiny_overrides(sample_data, tmp_path, steps=2)
    save = tf.train.CheckpointManager.save

    def disk_full_at_step_2(self, checkpoint_number=None, **kwargs):
        if checkpoint_number != 2:
            return save(self, checkpoint_number=checkpoint_number, **kwargs)
        partial = Path(self.directory) / "ckpt-2_temp"
        partial.mkdir()
        (partial / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"\0" * 64)
        (Path(self.directory) / "ckpt-2.index").write_bytes(b"\0")
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(tf.train.CheckpointManager, "save", disk_full_at_step_2)
        with pytest.raises(SystemExit) as exited:
            train.main(overrides)
    assert exited.value.code == 1
    checkpoints = tmp_path / "test" / "checkpoints"
    stderr = capsys.readouterr().err  # the progress bar, then the error
    assert "Traceback" not in stderr
    (line,) = [line for line in stderr.splitlines() if line.startswith("error")]
    assert line == (
        f"error: disk full writing checkpoint {checkpoints / 'ckpt-2'}; "
        f"the last good checkpoint is {checkpoints / 'ckpt-1'}"
    )
    assert not list(checkpoints.glob("ckpt-2*"))

    (checkpoints / "ckpt-2_temp").mkdir()  # as a killed write leaves them
    (checkpoints / "checkpoint.tmp5f3a").write_text("model_checkpoint_path")
    train.main(overrides)
    assert not list(checkpoints.glob("*tmp*")) and not list(checkpoints.glob("*_temp*"))
    assert sorted(p.name for p in checkpoints.glob("ckpt-2*")) == [
        "ckpt-2.data-00000-of-00001",
        "ckpt-2.index",
    ]


def test_enospc_os_error_is_a_full_disk_too(tmp_path: Path, monkeypatch) -> None:
    def build() -> tuple[keras.Model, keras.optimizers.Optimizer]:
        return keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), keras.optimizers.SGD()

    checkpoints = Checkpoints(tmp_path, build(), build, keep=1)

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tf.train.CheckpointManager, "save", no_space)
    checkpoints.save(1)  # the write fails in the background; waiting for it raises
    with pytest.raises(DiskFullError, match="the last good checkpoint is none"):
        checkpoints.wait()
