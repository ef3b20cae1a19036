"""Export checks: each reloaded artifact's outputs against the trained model's, and the report.

`export` compares every format at a batch size other than the one it was exported with, writes
`export/export.json` (one entry per format: file, size, largest difference, tolerance; `mobile`
adds latency and val metrics to its own) and fails when any difference exceeds its tolerance.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from {{ cookiecutter.package_name }}.errors import UserError

REPORT_FILE = "export.json"


@dataclass(frozen=True)
class ParityCheck:
    format: str
    file: str
    bytes: int
    max_abs_diff: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance


def check_parity(
    format: str, path: Path, expected: np.ndarray, actual: np.ndarray, tolerance: float
) -> ParityCheck:
    """Compare an artifact's outputs with the model's; `path` is the artifact (file or folder)."""
    if expected.shape != actual.shape:
        raise UserError(f"{format}: output shape {actual.shape}, expected {expected.shape}")
    files = [f for f in path.rglob("*") if f.is_file()] if path.is_dir() else [path]
    diff = float(np.max(np.abs(expected.astype(np.float64) - actual.astype(np.float64))))
    return ParityCheck(format, path.name, sum(f.stat().st_size for f in files), diff, tolerance)


def report(export_dir: Path, checks: list[ParityCheck]) -> None:
    """Print and write the checks; raise if any artifact disagrees with the model.

    The entries of formats not checked this time (those another command wrote) are kept.
    """
    path = export_dir / REPORT_FILE
    checked = {check.format for check in checks}
    before = json.loads(path.read_text()) if path.is_file() else []
    entries = [e for e in before if e["format"] not in checked] + [asdict(c) for c in checks]
    path.write_text(json.dumps(entries, indent=2))
    for check in checks:
        verdict = "ok" if check.ok else "MISMATCH"
        print(
            f"{check.format:<18} {check.file:<24} {check.bytes / 1e6:8.2f} MB  "
            f"max |diff| {check.max_abs_diff:.2e} (tolerance {check.tolerance:.0e})  {verdict}"
        )
    if failed := [c.format for c in checks if not c.ok]:
        raise UserError(f"exported outputs differ from the model's beyond tolerance: {failed}")
