"""PyTorch specifics: exact resumption, batch norm statistics of the first steps, checkpoints
that hold the whole training state, a full disk while checkpointing, checkpoints that are not
safe to load, and a quiet export."""

import errno
import logging
import shutil
import warnings
from argparse import Namespace
from pathlib import Path
from typing import Any

import pytest
import torch

from {{ cookiecutter.package_name }} import checkpoint, evaluate, export, recipe, train
from {{ cookiecutter.package_name }}.runs import Run

from conftest import tiny_overrides


class Killed(Exception):
    """Stands for the process being killed right after a checkpoint."""


def test_run_killed_after_a_checkpoint_and_resumed_ends_with_the_weights_of_an_uninterrupted_one(
    sample_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two loader workers{% if cookiecutter.task == "image" %}, augmentation{% endif %}; 4 steps an epoch: the resumed steps cross an epoch
    settings = ["data.batch_size=32", "data.num_workers=2", "trainer.checkpoint_every=3"]
{%- if cookiecutter.task == "image" %}
    settings.append("data.augment=true")
{%- endif %}
    straight = [*tiny_overrides(sample_data, tmp_path, "straight", steps=6), *settings]
    train.main(straight)

    interrupted = [*tiny_overrides(sample_data, tmp_path, "interrupted", steps=6), *settings]
    save = checkpoint.Checkpoints.save

    def save_then_die(self: checkpoint.Checkpoints, step: int, *args: Any) -> None:
        save(self, step, *args)
        self.wait()
        raise Killed

    monkeypatch.setattr(checkpoint.Checkpoints, "save", save_then_die)
    with pytest.raises(Killed):
        train.main(interrupted)
    monkeypatch.setattr(checkpoint.Checkpoints, "save", save)
    train.main(interrupted)

    records = Run(tmp_path / "interrupted").read_metrics()
    assert [r["step"] for r in records if r["split"] == "train"] == [1, 2, 3, 4, 5, 6]  # resumed
    expected = checkpoint.load(tmp_path / "straight" / "checkpoints" / "step_000006.pt")
    resumed = checkpoint.load(tmp_path / "interrupted" / "checkpoints" / "step_000006.pt")
    for name, tensor in expected["model"].items():
        torch.testing.assert_close(resumed["model"][name], tensor, rtol=0, atol=0, msg=name)


def test_batch_norm_statistics_average_the_first_batches_evenly() -> None:
    layer = torch.nn.BatchNorm1d(3, momentum=recipe.BATCH_NORM_MOMENTUM)
    batches = [torch.randn(16, 3) * (step + 1) + step for step in range(4)]
    for step, batch in enumerate(batches):
        with train.batch_norm_statistics(layer, step):
            layer(batch).square().sum().backward()
    torch.testing.assert_close(layer.running_mean, torch.stack(batches).mean(dim=(0, 1)))
    variances = torch.stack([batch.var(dim=0) for batch in batches])  # unbiased, as PyTorch's
    torch.testing.assert_close(layer.running_var, variances.mean(dim=0))


def test_checkpoint_holds_the_training_state(trained_run: Run) -> None:
    path = checkpoint.latest(trained_run.checkpoints)
    state = checkpoint.load(path)  # torch.load(weights_only=True)
    assert state["step"] == 2 and path.name == "step_000002.pt"
    assert {"model", "optimizer", "scaler", "rng", "config"} <= set(state)
    assert not any(name.startswith(("module.", "_orig_mod.")) for name in state["model"])
    assert state["config"]["trainer"]["max_steps"] == 2
    assert not list(trained_run.checkpoints.glob("*.tmp"))


def test_full_disk_while_checkpointing_is_one_line_and_leaves_no_partial_file(
    sample_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    overrides = tiny_overrides(sample_data, tmp_path, "full", steps=2)
    checkpoints = tmp_path / "full" / "checkpoints"
    save = torch.save

    def save_until_full(state: Any, file: Any) -> None:
        if state["step"] < 2:
            return save(state, file)
        file.write(b"the first bytes of a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", save_until_full)
    with pytest.raises(SystemExit) as exit_:
        train.main(overrides)
    assert exit_.value.code == 1
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors[-1] == (
        f"error: disk full writing checkpoint {checkpoints / 'step_000002.pt'};"
        f" the last good checkpoint is {checkpoints / 'step_000001.pt'}"
    )
    assert "Traceback" not in "\n".join(errors)
    assert sorted(p.name for p in checkpoints.iterdir()) == ["step_000001.pt"]


def test_start_removes_what_an_interrupted_write_left(sample_data: Path, tmp_path: Path) -> None:
    overrides = tiny_overrides(sample_data, tmp_path, "leftovers", steps=1)
    train.main(overrides)
    leftover = tmp_path / "leftovers" / "checkpoints" / "step_000002.tmp"
    leftover.write_bytes(b"half a checkpoint")
    train.main([*overrides, "trainer.max_steps=2"])
    names = sorted(p.name for p in leftover.parent.iterdir())
    assert names == ["step_000001.pt", "step_000002.pt"]


def test_checkpoint_that_is_not_safe_to_load_is_refused_in_one_line(
    trained_run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    shutil.copytree(trained_run.root, run)
    unsafe = run / "checkpoints" / "step_000003.pt"
    torch.save({"step": 3, "model": Namespace(code="runs when unpickled")}, unsafe)
    with pytest.raises(SystemExit) as exit_:
        evaluate.main(["--checkpoint", str(unsafe)])
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: {unsafe}: not loaded") and "\n" not in error
    assert "weights_only" not in error


def test_export_does_not_relay_pytorch_chatter(
    trained_run: Run,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = tmp_path / "run"
    shutil.copytree(trained_run.root, run)
    with caplog.at_level(logging.WARNING), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export.main(["--checkpoint", str(run)])
    assert not caught, [str(warning.message) for warning in caught]
    output = "".join(capfd.readouterr()) + caplog.text
    assert "torchvision" not in output and "Warning" not in output, output
    assert "Exported to" in output
