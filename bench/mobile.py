"""The on-device models of each framework after a short real training: size, batch-1 latency, and
val accuracy of float32 and int8 next to the trained model's.

    python bench/mobile.py [--task image] [--frameworks ...] [--epochs 5]

Trains each framework's generated project on the real data bench/learning.py uses (scikit-learn's
digits for image, its breast-cancer table for tabular, standard-library docstrings for text), runs
`python -m <pkg>.mobile` on the run, and prints what it wrote to `export.json`. Latency is this
machine's, one example at a time, the median of 50 runs; a phone's differs. Run it with dlstart's
environment plus scikit-learn (`.venv/bin/pip install scikit-learn`).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from learning import WRITERS, bake, train  # noqa: E402

from tests.harness import FRAMEWORKS, TASKS  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=TASKS, default="image")
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "data"
        WRITERS[args.task](data, args.seed)
        print(f"{args.task}, {args.epochs} epochs; batch-1 latency on this machine")
        print(f"  {'framework':<11}{'format':<20}{'MB':>7}{'ms':>9}  val accuracy (trained model)")
        for framework in args.frameworks:
            project = bake(framework, args.task, work, deploy="mobile")
            train(project, data, args.epochs)
            project.module("mobile", "--checkpoint", "runs/real", timeout=3600)
            report = project.path / "runs" / "real" / "export" / "export.json"
            for check in json.loads(report.read_text()):
                size, ms = check["bytes"] / 1e6, check["latency_ms"]
                print(
                    f"  {framework:<11}{check['format']:<20}{size:7.3f}{ms:9.3f}"
                    f"  {check['value']:.4f} ({check['model_value']:.4f})",
                    flush=True,
                )


if __name__ == "__main__":
    main()
