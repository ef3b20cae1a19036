"""TensorFlow: the generated image project's training vs a minimal hand-written Keras loop.

    python bench/train_throughput.py --framework tensorflow [--steps 50] [--batch-size 64]

Run it in the template's CPU environment (requirements/cpu.txt) plus cookiecutter, which bakes
the project. In one process, alternating `--repeats` times:

- project: the generated `train` command's own loop (`train.train(config)`), its samples/s read
  from its metrics.jsonl over the timed steps (logging windows of `--warmup` steps, the first
  window, with tracing, dropped), which time the calls running the steps: validation and
  checkpoint writes are left out;
- baseline: the same Keras model, batch and decoded images in a minimal `model.compile` +
  `model.fit` over an in-memory tf.data pipeline, XLA as in the project (`trainer.compile`),
  timed by a callback over the same steps.

Also: the share of step time the project's input pipeline (with its default augmentation)
takes when iterated alone, and the size and batch-1 latency of the exported LiteRT float32 and
int8 files.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from types import ModuleType

import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from baking import bake_image_project, import_modules

PACKAGE = "bench_image"
LITERT_RUNS = 200


def main(args: argparse.Namespace) -> None:
    if args.steps % args.warmup:
        raise SystemExit("--steps must be a multiple of --warmup (the logging window)")
    with tempfile.TemporaryDirectory() as tmp:
        project = bake_image_project("tensorflow", Path(tmp), PACKAGE)
        modules = dict(zip(MODULES, import_modules(project, PACKAGE, *MODULES), strict=True))
        modules["data"].write_sample(project / "data" / "sample")
        results = _measure(modules, project, args)
    _print(results, args)


MODULES = ("config", "data", "data.pipeline", "model", "train", "export", "runs")


def _overrides(project: Path, args: argparse.Namespace, name: str) -> list[str]:
    return [
        f"data.path={project / 'data' / 'sample'}",
        f"run.dir={project / 'runs'}",
        f"run.name={name}",
        f"data.batch_size={args.batch_size}",
        "data.augment=false",
        f"trainer.max_steps={args.warmup + args.steps}",
        f"trainer.checkpoint_every={args.warmup + args.steps}",
        f"log.every={args.warmup}",
        "log.tensorboard=false",
    ]


def _measure(modules: dict[str, ModuleType], project: Path, args: argparse.Namespace) -> dict:
    config_module, train = modules["config"], modules["train"]
    project_rates, baseline_rates = [], []
    for repeat in range(args.repeats):
        config = config_module.load_config(overrides=_overrides(project, args, f"r{repeat}"))
        run = train.train(config)
        windows = [r for r in run.read_metrics() if r["split"] == "train"][1:]
        seconds = sum(args.warmup * args.batch_size / w["samples_per_s"] for w in windows)
        project_rates.append(args.steps * args.batch_size / seconds)
        baseline_rates.append(_baseline(modules, config, args))
    augmented = [*_overrides(project, args, "r0"), "data.augment=true"]  # the project's default
    config = config_module.load_config(overrides=augmented)
    data_seconds = _pipeline_seconds_per_batch(modules, config, args)
    litert = _litert(modules, project)
    return {
        "project": statistics.median(project_rates),
        "baseline": statistics.median(baseline_rates),
        "project_all": project_rates,
        "baseline_all": baseline_rates,
        "data_seconds": data_seconds,
        "litert": litert,
    }


def _baseline(modules: dict[str, ModuleType], config, args: argparse.Namespace) -> float:
    """A minimal Keras loop: model.fit over decoded images in memory."""
    data, model_module = modules["data"], modules["model"]
    train = data.load_split(config.data, "train")
    preprocessor = data.Preprocessor.fit(train, config.data)
    images = preprocessor.encode(train)
    labels = preprocessor.encode_targets(train)
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(config.seed)
    dataset = (
        tf.data.Dataset.from_tensor_slices((images, labels))
        .cache()
        .shuffle(len(labels), seed=config.seed)
        .repeat()
        .batch(args.batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )
    model = model_module.build_model(config.model, preprocessor)
    model.compile(
        optimizer=keras.optimizers.AdamW(config.optim.lr, weight_decay=config.optim.weight_decay),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=config.trainer.compile,  # fit's "auto" means XLA, which the project leaves off
    )
    timer = _StepTimer(args.warmup)
    model.fit(dataset, steps_per_epoch=args.warmup + args.steps, callbacks=[timer], verbose=0)
    return args.steps * args.batch_size / timer.seconds


class _StepTimer(keras.callbacks.Callback):
    """Times the steps after the first `warmup`."""

    def __init__(self, warmup: int) -> None:
        super().__init__()
        self.warmup, self.start, self.seconds = warmup, 0.0, 0.0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if batch + 1 == self.warmup:
            self.start = time.perf_counter()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.seconds = time.perf_counter() - self.start


def _pipeline_seconds_per_batch(
    modules: dict[str, ModuleType], config, args: argparse.Namespace
) -> float:
    """The project's training pipeline alone: seconds per batch once its cache is warm."""
    data, pipeline = modules["data"], modules["data.pipeline"]
    train = data.load_split(config.data, "train")
    preprocessor = data.Preprocessor.fit(train, config.data)
    dataset = pipeline.training_dataset(
        train, preprocessor, config, tf.distribute.InputContext(), start_step=0
    )
    iterator = iter(dataset)
    epoch = max(len(train) // args.batch_size, 1)
    for _ in range(epoch + args.warmup):  # the first epoch fills the cache
        next(iterator)
    start = time.perf_counter()
    for _ in range(args.steps):
        next(iterator)
    return (time.perf_counter() - start) / args.steps


def _litert(modules: dict[str, ModuleType], project: Path) -> dict[str, tuple[int, float]]:
    """Size (bytes) and batch-1 latency (ms) of each LiteRT file of the r0 run's export."""
    run = project / "runs" / "r0"
    modules["export"].main(["--checkpoint", str(run), "--format", "litert"])
    results = {}
    for name in ("float32", "int8"):
        path = run / "export" / f"model_{name}.tflite"
        runner = Interpreter(model_path=str(path)).get_signature_runner()
        image = np.random.default_rng(0).random((1, 32, 32, 3), dtype=np.float32)
        for _ in range(20):
            runner(image=image)
        start = time.perf_counter()
        for _ in range(LITERT_RUNS):
            runner(image=image)
        latency_ms = (time.perf_counter() - start) / LITERT_RUNS * 1e3
        results[name] = (path.stat().st_size, latency_ms)
    return results


def _print(results: dict, args: argparse.Namespace) -> None:
    project, baseline = results["project"], results["baseline"]
    step_seconds = args.batch_size / project
    print(
        f"\nTensorFlow image project, batch {args.batch_size}, {args.steps} timed steps, "
        f"median of {args.repeats}"
    )
    print(
        f"  generated project  {project:9.1f} samples/s  "
        f"({', '.join(f'{r:.0f}' for r in results['project_all'])})"
    )
    print(
        f"  minimal Keras fit  {baseline:9.1f} samples/s  "
        f"({', '.join(f'{r:.0f}' for r in results['baseline_all'])})"
    )
    best = max(results["project_all"]) / max(results["baseline_all"])
    print(f"  ratio              {project / baseline:9.3f}x  (fastest runs: {best:.3f}x)")
    print(
        f"  input pipeline     {results['data_seconds'] * 1e3:9.2f} ms/batch alone = "
        f"{100 * results['data_seconds'] / step_seconds:.1f}% of a {step_seconds * 1e3:.1f} ms step"
    )
    for name, (size, latency) in results["litert"].items():
        print(f"  LiteRT {name:<8}    {size / 1e3:9.1f} KB, {latency:.3f} ms per image (batch 1)")
