"""The command line every framework's recipe-parity probe speaks (see tests/test_recipe_parity.py).

A probe (`probe_<framework>.py`) runs with the framework's Python, in a baked project (cwd) whose
sample data is written, with PYTHONPATH=src. It implements `Probe` with the project's own code
(build_model, optimizer, schedule, loss, training step) and calls `main(probe)`:

    shapes     --task T --out shapes.json                  {canonical name: shape}
    init-stats --task T --seed S --out stats.json          {canonical name: [mean, std]}
    batches    --task T --steps N --batch-size B --out batches.npz
    train      --task T --weights init.npz --batches batches.npz --steps N --out result.json
               [--weights-out final.npz] [key=value ...]   {"loss": [...], "lr": [...]}
    suite      --task T --seed S --steps N (--weights init.npz --batches batches.npz |
               --batch-size B) [--optimizers adamw sgd] --out DIR [key=value ...]
               everything in one process: DIR/shapes.json, init-stats.json, and for each
               optimizer train-<optimizer>.json and weights-<optimizer>.npz (the final weights);
               with --batch-size instead of weights and batches (the reference framework), it
               first writes DIR/batches.npz and DIR/init.npz (`draw_weights` over its shapes).

Canonical names and layouts are PyTorch's `state_dict()` of the model built with the default
config: Linear weight (out, in), Conv2d weight (out, in, kh, kw), batch norm running_mean and
running_var included, num_batches_tracked excluded. Batches hold `"{i}/{input}"` and
`"{i}/target"` for step i. `train` builds the model with dropout 0 and fp32, loads the weights,
runs N optimizer steps through the project's training step with `trainer.max_steps=N` (so the
schedule spans N steps) and the given overrides, and reports each step's loss (before its
update) and learning rate.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

Arrays = dict[str, np.ndarray]


class Probe(Protocol):
    def shapes(self, task: str) -> dict[str, list[int]]: ...

    def init_stats(self, task: str, seed: int) -> dict[str, list[float]]: ...

    def batches(self, task: str, steps: int, batch_size: int) -> list[Arrays]:
        """Only one framework needs it (the test takes PyTorch's)."""
        ...

    def train(
        self, task: str, weights: Arrays, batches: list[Arrays], steps: int, overrides: list[str]
    ) -> tuple[list[float], list[float], Arrays]:
        """Losses, learning rates and the final canonical weights."""
        ...


def draw_weights(shapes: dict[str, list[int]], seed: int) -> Arrays:
    """Weights of realistic scale, with norm scales, shifts and statistics away from 1 and 0 so a
    framework that mixes them up fails; the padding token's embedding row is zero."""
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in shapes.items():
        if name.endswith("running_var"):
            value = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("running_mean"):
            value = rng.normal(0.0, 0.1, shape)
        elif len(shape) == 1:
            value = (1.0 if name.endswith("weight") else 0.0) + rng.normal(0.0, 0.1, shape)
        elif "embedding" in name:
            value = rng.normal(0.0, 0.1, shape)
        else:
            bound = 1 / math.sqrt(math.prod(shape[1:]))
            value = rng.uniform(-bound, bound, shape)
        weights[name] = value.astype(np.float32)
    if "token_embedding.weight" in weights:
        weights["token_embedding.weight"][0] = 0.0
    return weights


def statistics(weights: Arrays) -> dict[str, list[float]]:
    return {name: [float(np.mean(a)), float(np.std(a))] for name, a in weights.items()}


def encode_batches(
    examples: list[Any], preprocessor: Any, steps: int, batch_size: int
) -> list[Arrays]:
    """The first `steps` training batches in a fixed order, encoded, without augmentation."""
    order = np.random.default_rng(0).permutation(len(examples))
    batches = []
    for i in range(steps):
        chosen = [examples[j] for j in order[i * batch_size : (i + 1) * batch_size]]
        batch = dict(preprocessor.encode(chosen))
        batches.append({**batch, "target": preprocessor.encode_targets(chosen)})
    return batches


def save_batches(batches: list[Arrays], path: Path) -> None:
    arrays = {f"{i}/{name}": a for i, batch in enumerate(batches) for name, a in batch.items()}
    np.savez(path, **arrays)


def load_batches(path: Path, steps: int) -> list[Arrays]:
    with np.load(path) as data:
        batches: list[Arrays] = [{} for _ in range(steps)]
        for key in data.files:
            index, name = key.split("/", 1)
            if int(index) < steps:
                batches[int(index)][name] = data[key]
    return batches


def load_weights(path: Path) -> Arrays:
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


def write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value))


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Recipe-parity probe.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("shapes", "init-stats", "batches", "train", "suite"):
        command = commands.add_parser(name)
        command.add_argument("--task", required=True, choices=["image", "text", "tabular"])
        command.add_argument("--out", type=Path, required=True)
        if name in ("init-stats", "suite"):
            command.add_argument("--seed", type=int, default=0)
        if name in ("batches", "train", "suite"):
            command.add_argument("--steps", type=int, required=True)
        if name == "batches":
            command.add_argument("--batch-size", type=int, required=True)
        if name == "train":
            command.add_argument("--weights", type=Path, required=True)
            command.add_argument("--batches", type=Path, required=True)
            command.add_argument("--weights-out", type=Path)
        if name == "suite":
            given = command.add_mutually_exclusive_group(required=True)
            given.add_argument("--weights", type=Path, help="with --batches")
            given.add_argument("--batch-size", type=int, help="make the batches and weights")
            command.add_argument("--batches", type=Path)
            command.add_argument("--optimizers", nargs="+", default=["adamw", "sgd"])
        if name in ("train", "suite"):
            command.add_argument("overrides", nargs="*", metavar="key=value")
    return parser


def main(probe: Probe, argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    task, out = args.task, args.out
    if args.command == "shapes":
        write_json(out, probe.shapes(task))
    elif args.command == "init-stats":
        write_json(out, probe.init_stats(task, args.seed))
    elif args.command == "batches":
        save_batches(probe.batches(task, args.steps, args.batch_size), out)
    elif args.command == "train":
        batches = load_batches(args.batches, args.steps)
        weights = load_weights(args.weights)
        losses, lrs, final = probe.train(task, weights, batches, args.steps, args.overrides)
        write_json(out, {"loss": losses, "lr": lrs})
        if args.weights_out is not None:
            np.savez(args.weights_out, **final)
    else:
        out.mkdir(parents=True, exist_ok=True)
        shapes = probe.shapes(task)
        write_json(out / "shapes.json", shapes)
        write_json(out / "init-stats.json", probe.init_stats(task, args.seed))
        if args.weights is None:
            args.weights, args.batches = out / "init.npz", out / "batches.npz"
            np.savez(args.weights, **draw_weights(shapes, args.seed))
            save_batches(probe.batches(task, args.steps, args.batch_size), args.batches)
        batches = load_batches(args.batches, args.steps)
        weights = load_weights(args.weights)
        for optimizer in args.optimizers:
            overrides = [*args.overrides, f"optim.name={optimizer}"]
            losses, lrs, final = probe.train(task, weights, batches, args.steps, overrides)
            write_json(out / f"train-{optimizer}.json", {"loss": losses, "lr": lrs})
            np.savez(out / f"weights-{optimizer}.npz", **final)
