"""Fixtures shared by the tests: sample data, one tiny training run, and its export."""

from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import export, train
from {{ cookiecutter.package_name }}.config import Config, load_config
from {{ cookiecutter.package_name }}.data import write_sample
from {{ cookiecutter.package_name }}.runs import Run

TINY_MODEL = [
{%- if cookiecutter.task == "image" %}
    "data.image_size=16",
    "model.widths=[8,16]",
{%- elif cookiecutter.task == "text" %}
    "data.max_length=16",
    "model.dim=16",
    "model.heads=2",
    "model.layers=1",
    "model.mlp_dim=32",
{%- else %}
    "model.hidden=[16]",
    "model.embedding_dim=4",
{%- endif %}
    "data.batch_size=8",
    "data.num_workers=0",
    "log.tensorboard=false",
    "log.mlflow=false",  # the MLflow store is the project's runs/mlflow/, not the test's folder
]


def tiny_overrides(data: Path, runs: Path, name: str = "test", steps: int = 2) -> list[str]:
    """A few training steps of a tiny model, checkpointing every step."""
    return [
        *TINY_MODEL,
        f"data.path={data}",
        f"run.dir={runs}",
        f"run.name={name}",
        f"trainer.max_steps={steps}",
        "trainer.checkpoint_every=1",
        "log.every=1",
    ]


@pytest.fixture(scope="session")
def sample_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data")
    write_sample(path)
    return path


@pytest.fixture(scope="session")
def tiny_config(sample_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Config:
    return load_config(overrides=tiny_overrides(sample_data, tmp_path_factory.mktemp("runs")))


@pytest.fixture(scope="session")
def trained_run(sample_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    overrides = tiny_overrides(sample_data, tmp_path_factory.mktemp("runs"))
    train.main(overrides)
    return Run.of(load_config(overrides=overrides))


@pytest.fixture(scope="session")
def export_dir(trained_run: Run) -> Path:
    export.main(["--checkpoint", str(trained_run.root)])
    return trained_run.export
