"""In-browser inference time per example: each generated project's page (web/), run by
`make web-test` in headless Chromium, reports the median time of ONNX Runtime Web's
`session.run` on one example (batch of 1), averaged over the page's validation examples.

    python bench/browser.py [--framework pytorch ...] [--task image ...]

Each project is baked with the default model, trained 2 steps on the sample data (the time does
not depend on the weights), exported to ONNX and checked; the figures are printed as a table.
Needs the frameworks' environments (tests/harness.py builds them), npm and Chromium.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cookiecutter.main import cookiecutter

from tests.harness import FRAMEWORKS, TASKS, TEMPLATES, Project, answers, framework_env

FORMATS = {"pytorch": [["onnx"]], "tensorflow": [["onnx"]], "jax": [["stablehlo"], ["onnx"]]}
TIMING = re.compile(r"inference per example .*: mean (\d+\.\d+) ms over (\d+) examples")


def measure(framework: str, task: str, folder: Path) -> tuple[float, int]:
    path = cookiecutter(
        str(TEMPLATES / framework),
        no_input=True,
        output_dir=str(folder),
        extra_context=answers(task, deploy="browser"),
        accept_hooks=False,
    )
    project = Project(Path(path), framework, task, framework_env(framework))
    project.module("data", "sample", "--out", "data/sample")
    project.module("train", "trainer.max_steps=2", "run.name=bench", "data.num_workers=0")
    for formats in FORMATS[framework]:
        project.module("export", "--checkpoint", "runs/bench", "--format", *formats)
    make = [
        "make",
        "--no-print-directory",
        "web-test",
        f"VENV={project.env.root}",
        "RUN=runs/bench",
    ]
    out = project.run(*make).stdout
    found = TIMING.search(out)
    if not found:
        raise SystemExit(f"no timing in the output of make web-test:\n{out}")
    return float(found[1]), int(found[2])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--framework", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS))
    parser.add_argument("--task", nargs="+", choices=TASKS, default=list(TASKS))
    args = parser.parse_args(argv)
    print(f"{'framework':<12}{'task':<10}{'ms per example':>16}")
    with tempfile.TemporaryDirectory() as tmp:
        for framework in args.framework:
            for task in args.task:
                ms, count = measure(framework, task, Path(tmp) / f"{framework}-{task}")
                print(f"{framework:<12}{task:<10}{ms:>16.2f}  (mean of {count} examples)")


if __name__ == "__main__":
    main()
