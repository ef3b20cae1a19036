"""A run's directory: `<run.dir>/<run.name>/` with config.yaml, checkpoints/, metrics.jsonl,
tensorboard/ and export/. Restarting a run with the same name resumes it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from {{ cookiecutter.package_name }}.config import (
    Config,
    load_config,
    read_yaml,
    save_config,
    show,
    to_dict,
)
from {{ cookiecutter.package_name }}.errors import ConfigError, UserError


@dataclass(frozen=True)
class Run:
    root: Path

    @classmethod
    def of(cls, config: Config) -> Run:
        return cls(Path(config.run.dir) / config.run.name)

    @classmethod
    def containing(cls, path: Path) -> Run:
        """The run a checkpoint (or the run directory itself) belongs to."""
        for candidate in (path, *path.parents):
            if (candidate / "config.yaml").is_file():
                return cls(candidate)
        raise UserError(f"{path} is not inside a run directory (no config.yaml above it)")

    @property
    def config_file(self) -> Path:
        return self.root / "config.yaml"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def metrics_file(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def export(self) -> Path:
        return self.root / "export"

    @property
    def started(self) -> bool:
        """Whether a start of this run got as far as a checkpoint. Until then a restart starts
        over: a start that failed early (a wrong path, bad weights) holds it to nothing."""
        return self.checkpoints.is_dir() and any(self.checkpoints.iterdir())

    def check_config(self, config: Config) -> None:
        """Refuse to resume this run under a config that differs from its saved one, except in
        `RESUMABLE_KEYS`, or with `run.reconfigure=true`. Read-only: every process calls it
        before training."""
        if not self.started or not self.config_file.is_file() or config.run.reconfigure:
            return
        if changes := config_changes(read_yaml(self.config_file), config):
            raise ConfigError(
                f"run {self.root} was started with a different config: {', '.join(changes)}."
                " Resume it unchanged, start a new run with run.name=<new name>, or pass"
                " run.reconfigure=true to resume it with the new values"
            )

    def prepare(self, config: Config) -> None:
        """Create the directory and write the resolved config (the main process only)."""
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        save_config(config, self.config_file)

    def log_metrics(self, record: dict[str, Any]) -> None:
        """Append one JSON line, e.g. {"split": "train", "step": 10, "loss": 0.7}."""
        finite = {k: None if _is_nan_or_inf(v) else v for k, v in record.items()}
        with self.metrics_file.open("a") as file:
            file.write(json.dumps(finite) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        """The records of metrics.jsonl written whole: a line still being written is left out."""
        if not self.metrics_file.exists():
            return []
        *lines, _ = self.metrics_file.read_text().split("\n")
        return [json.loads(line) for line in lines if line]


# What a restart may change without run.reconfigure=true: how the run is carried out, never
# what it computes (a key ending in "." covers every key under it). The length of the run may
# only grow: trainer.max_steps while it is positive, else trainer.max_epochs.
RESUMABLE_KEYS = (
    "trainer.max_steps",
    "trainer.max_epochs",
    "trainer.devices",
    "trainer.checkpoint_every",
    "trainer.checkpoint_every_minutes",
    "trainer.stop_signals",
    "trainer.stop_check_every",
    "trainer.keep_checkpoints",
    "trainer.compile",
{%- if cookiecutter._framework == "pytorch" %}
    "trainer.strategy",
{%- elif cookiecutter._framework == "tensorflow" %}
    "trainer.steps_per_execution",
{%- elif cookiecutter._framework == "jax" %}
    "trainer.mesh_model",
    "trainer.compilation_cache",
{%- endif %}
    "data.num_workers",
    "log.",
    "run.",
)


def config_changes(saved: dict[str, Any], config: Config) -> list[str]:
    """The changes from a run's saved config to `config` that a restart may not make, as
    `key old -> new`. A key the saved config lacks (added by a later template) counts as
    holding its default."""
    defaults = flatten(to_dict(load_config()))
    old = {**defaults, **flatten(saved)}
    new = flatten(to_dict(config))
    changes = [
        f"{key} {show(old[key])} -> {show(value)}"
        for key, value in new.items()
        if old[key] != value and not _resumable(key)
    ]
    if _shorter(old, new):
        steps, epochs = "trainer.max_steps", "trainer.max_epochs"
        changes.append(
            f"{steps} {show(old[steps])} -> {show(new[steps])}, {epochs} "
            f"{show(old[epochs])} -> {show(new[epochs])} (a run may only be made longer)"
        )
    return changes


def _shorter(old: dict[str, Any], new: dict[str, Any]) -> bool:
    old_steps, new_steps = old["trainer.max_steps"], new["trainer.max_steps"]
    if old_steps > 0 and new_steps > 0:
        return new_steps < old_steps
    if old_steps == new_steps == -1:
        return new["trainer.max_epochs"] < old["trainer.max_epochs"]
    return True  # from epochs to steps or back: which is longer depends on the data


def _resumable(key: str) -> bool:
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in RESUMABLE_KEYS)


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config values as dotted keys: {"optim": {"lr": 1}} -> {"optim.lr": 1}."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _is_nan_or_inf(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)
