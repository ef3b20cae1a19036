import json
import math
from pathlib import Path

from {{ cookiecutter.package_name }} import evaluate, train
from {{ cookiecutter.package_name }}.config import load_config
from {{ cookiecutter.package_name }}.runs import Run

from conftest import tiny_overrides


def train_steps(run: Run) -> list[int]:
    return [record["step"] for record in run.read_metrics() if record["split"] == "train"]


def test_training_writes_config_checkpoint_and_finite_loss(trained_run: Run) -> None:
    assert load_config(trained_run.config_file).trainer.max_steps == 2
    assert any(trained_run.checkpoints.iterdir())
    losses = [r["loss"] for r in trained_run.read_metrics() if r["split"] == "train"]
    assert losses and all(isinstance(x, float) and math.isfinite(x) for x in losses)


def test_restarted_run_resumes_from_its_checkpoint(sample_data: Path, tmp_path: Path) -> None:
    overrides = tiny_overrides(sample_data, tmp_path, steps=2)
    train.main(overrides)
    train.main([*overrides, "trainer.max_steps=3"])
    assert train_steps(Run.of(load_config(overrides=overrides))) == [1, 2, 3]


def test_evaluate_writes_metrics(trained_run: Run) -> None:
    evaluate.main(["--checkpoint", str(trained_run.root)])
    metrics = json.loads((trained_run.root / "metrics.json").read_text())
    expected = {"loss", "mae", "rmse"} if "mae" in metrics else {"loss", "accuracy"}
    assert expected <= set(metrics)
    assert all(math.isfinite(metrics[key]) for key in expected)
