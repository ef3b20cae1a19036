"""A run's directory: `<run.dir>/<run.name>/` with config.yaml, checkpoints/, metrics.jsonl,
tensorboard/ and export/. Restarting a run with the same name resumes it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from {{ cookiecutter.package_name }}.config import Config, save_config, to_dict
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

    def check_config(self, config: Config) -> None:
        """Refuse to resume this run under a config that differs from its saved one, except in
        the keys that may change on a restart (`RESUMABLE_KEYS`) or with `run.reconfigure=true`.
        Read-only: every process may call it before training."""
        if not self.config_file.is_file() or config.run.reconfigure:
            return
        saved = _flatten(yaml.safe_load(self.config_file.read_text()) or {})
        wanted = _flatten(to_dict(config))
        changed = [
            f"{key}: {saved.get(key, '(absent)')!r} -> {wanted.get(key, '(absent)')!r}"
            for key in sorted(set(saved) | set(wanted))
            if saved.get(key) != wanted.get(key) and not _resumable(key)
        ]
        if changed:
            raise ConfigError(
                f"run {self.root} was started with another config ({'; '.join(changed)}): resume"
                " it unchanged, start a new run with run.name=<new name>, or pass"
                " run.reconfigure=true to resume under the new values"
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
        if not self.metrics_file.exists():
            return []
        return [json.loads(line) for line in self.metrics_file.read_text().splitlines() if line]


RESUMABLE_KEYS = (
    "trainer.max_steps",
    "trainer.max_epochs",
    "trainer.devices",
    "trainer.checkpoint_every",
    "trainer.keep_checkpoints",
    "data.num_workers",
    "run.reconfigure",
    "log.",
)


def _resumable(key: str) -> bool:
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in RESUMABLE_KEYS)


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _is_nan_or_inf(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)
