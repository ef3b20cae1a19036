"""A run's directory: `<run.dir>/<run.name>/` with config.yaml, checkpoints/, metrics.jsonl,
tensorboard/ and export/. Restarting a run with the same name resumes it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from {{ cookiecutter.package_name }}.config import Config, save_config
from {{ cookiecutter.package_name }}.errors import UserError


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


def _is_nan_or_inf(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)
