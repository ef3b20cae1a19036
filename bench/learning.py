"""The three frameworks trained on the same real data with their default config, side by side.

    python bench/learning.py [--tasks image text tabular] [--frameworks ...] [--epochs 10]

The data comes from packages installed here, never from the network: scikit-learn's handwritten
digits (1,797 8x8 images, 10 classes) as image folders, its breast-cancer table (569 rows, 2
classes) as CSV, and, for text, the first lines of the docstrings in eight packages of Python's
own standard library (which package a docstring belongs to: 8 classes). Each split is drawn once
with a fixed seed, so every framework trains and validates on the same files.

Prints each framework's final and best val accuracy and its training time. Run it with dlstart's
environment plus scikit-learn (`pip install -e '.[bench]'`); each framework trains in the test
environment `make test` builds for it (`.venvs/`).
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import random
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness import FRAMEWORKS, TASKS, Project, answers, framework_env  # noqa: E402

TEXT_PACKAGES = (
    "asyncio",
    "email",
    "xml",
    "http",
    "unittest",
    "multiprocessing",
    "logging",
    "json",
)
VAL_FRACTION = 0.2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def split(items: list, seed: int) -> tuple[list, list]:
    """A stratified split: VAL_FRACTION of each label to val, the rest to train."""
    by_label: dict[object, list] = {}
    for item in items:
        by_label.setdefault(item[-1], []).append(item)
    train, val = [], []
    rng = random.Random(seed)
    for group in by_label.values():
        rng.shuffle(group)
        cut = round(len(group) * VAL_FRACTION)
        val += group[:cut]
        train += group[cut:]
    return train, val


def write_digits(out: Path, seed: int) -> None:
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    items = list(zip(digits.images, digits.target.tolist(), strict=True))
    for name, part in zip(("train", "val"), split(items, seed), strict=True):
        for index, (image, label) in enumerate(part):
            folder = out / name / f"digit_{label}"
            folder.mkdir(parents=True, exist_ok=True)
            pixels = (image * (255 / 16)).round().astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(folder / f"{index:04d}.png")


def write_breast_cancer(out: Path, seed: int) -> None:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    columns = [name.replace(" ", "_") for name in data.feature_names]
    items = [
        [*row.tolist(), data.target_names[label]]
        for row, label in zip(data.data, data.target, strict=True)
    ]
    out.mkdir(parents=True, exist_ok=True)
    for name, part in zip(("train", "val"), split(items, seed), strict=True):
        with (out / f"{name}.csv").open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow([*columns, "target"])
            writer.writerows(part)


def write_docstrings(out: Path, seed: int) -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    items = []
    for package in TEXT_PACKAGES:
        for source in sorted((stdlib / package).rglob("*.py")):
            tree = ast.parse(source.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
                    doc = ast.get_docstring(node)
                    if doc and len(doc.split()) >= 4:
                        items.append((" ".join(doc.split("\n\n")[0].split()), package))
    items = sorted(set(items))
    out.mkdir(parents=True, exist_ok=True)
    for name, part in zip(("train", "val"), split(items, seed), strict=True):
        with (out / f"{name}.csv").open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["text", "label"])
            writer.writerows(part)


WRITERS = {"image": write_digits, "tabular": write_breast_cancer, "text": write_docstrings}


def bake(framework: str, task: str, out: Path, deploy: str = "api") -> Project:
    from cookiecutter.main import cookiecutter

    path = cookiecutter(
        str(ROOT / "templates" / framework),
        no_input=True,
        output_dir=str(out / framework),
        extra_context=answers(task, deploy=deploy),
        accept_hooks=False,
    )
    return Project(Path(path), framework, task, framework_env(framework))


def train(project: Project, data: Path, epochs: int) -> dict[str, float]:
    started = time.perf_counter()
    project.module(
        "train", f"data.path={data}", f"trainer.max_epochs={epochs}", "run.name=real", timeout=3600
    )
    seconds = time.perf_counter() - started
    lines = (project.path / "runs" / "real" / "metrics.jsonl").read_text().splitlines()
    val = [json.loads(line) for line in lines if '"val"' in line]
    accuracies = [r["accuracy"] for r in val]
    return {"final": accuracies[-1], "best": max(accuracies), "seconds": seconds}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for task in args.tasks:
            data = work / "data" / task
            WRITERS[task](data, args.seed)
            sizes = {
                s: sum(1 for _ in (data / s).rglob("*.png"))
                if task == "image"
                else len((data / f"{s}.csv").read_text().splitlines()) - 1
                for s in ("train", "val")
            }
            print(
                f"{task}: {sizes['train']} train, {sizes['val']} val examples, {args.epochs} epochs"
            )
            for framework in args.frameworks:
                result = train(bake(framework, task, work), data, args.epochs)
                print(
                    f"  {framework:<10} val accuracy final {result['final']:.3f}, best"
                    f" {result['best']:.3f} ({result['seconds']:.0f} s)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
