"""PyTorch specifics: exact resumption, and checkpoints that hold the whole training state."""

from pathlib import Path

import torch

from conftest import tiny_overrides
from {{ cookiecutter.package_name }} import checkpoint, train
from {{ cookiecutter.package_name }}.runs import Run


def test_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(
    sample_data: Path, tmp_path: Path
) -> None:
    warmup = "optim.warmup_steps=10"  # both runs stay in warmup: the same learning rates
    straight = [*tiny_overrides(sample_data, tmp_path, "straight", steps=4), warmup]
    train.main(straight)
    interrupted = [*tiny_overrides(sample_data, tmp_path, "interrupted", steps=2), warmup]
    train.main(interrupted)
    train.main([*interrupted, "trainer.max_steps=4"])

    expected = checkpoint.load(tmp_path / "straight" / "checkpoints" / "step_000004.pt")
    resumed = checkpoint.load(tmp_path / "interrupted" / "checkpoints" / "step_000004.pt")
    for name, tensor in expected["model"].items():
        torch.testing.assert_close(resumed["model"][name], tensor, rtol=0, atol=0, msg=name)


def test_checkpoint_holds_the_training_state(trained_run: Run) -> None:
    path = checkpoint.latest(trained_run.checkpoints)
    state = checkpoint.load(path)  # torch.load(weights_only=True)
    assert state["step"] == 2 and path.name == "step_000002.pt"
    assert {"model", "optimizer", "scheduler", "scaler", "rng", "config"} <= set(state)
    assert not any(name.startswith(("module.", "_orig_mod.")) for name in state["model"])
    assert state["config"]["trainer"]["max_steps"] == 2
    assert not list(trained_run.checkpoints.glob("*.tmp"))
