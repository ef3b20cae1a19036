"""PyTorch: the generated image project's training vs a minimal hand-written loop.

Bakes `templates/pytorch` (image task) into a temporary folder, writes its sample data, and
measures in one process, with the same model (the project's `build_model`, default config),
batch size and data:

- `hand-written`: forward, cross-entropy, backward, AdamW step over batches decoded up front;
- `hand-written + project DataLoader`: the same loop fed by the project's DataLoader (decoding,
  augmentation and collation in `data.num_workers` worker processes);
- `project train`: the project's own `train.main` (DataLoader, autocast context, gradient
  clipping, LR schedule, loss metering, logging), its samples/s per window read from
  metrics.jsonl (`log.every=WINDOW`).

Each is run `--repeats` times, interleaved, after `--warmup` untimed steps. A run's figure is its
fastest window of WINDOW steps and the best run is reported, as `timeit` does: on a CPU shared
with other jobs, the slower windows measure the other jobs.
Needs torch (the template's requirements/cpu.txt) and cookiecutter in the running environment.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from baking import bake_image_project, import_modules

PACKAGE = "bench_image"
WINDOW = 5


def time_steps(step: Callable[[], None], warmup: int, steps: int) -> float:
    """Seconds per step after `warmup` untimed steps, in the fastest window of WINDOW steps (the
    project logs its throughput over the same windows)."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps // WINDOW):
        start = time.perf_counter()
        for _ in range(WINDOW):
            step()
        times.append((time.perf_counter() - start) / WINDOW)
    return min(times)


def main(args: argparse.Namespace) -> None:
    import torch
    import torch.nn.functional as F

    with tempfile.TemporaryDirectory() as tmp:
        project = bake_image_project("pytorch", Path(tmp), PACKAGE)
        config_module, data, devices, pipeline, model_module, train = import_modules(
            project, PACKAGE, "config", "data", "devices", "data.pipeline", "model", "train"
        )

        data_path = Path(tmp) / "data"
        data.write_sample(data_path)
        overrides = [f"data.path={data_path}", f"data.batch_size={args.batch_size}"]
        config = config_module.load_config(overrides=overrides)
        env = devices.single_device()
        examples = data.load_split(config.data, "train")
        preprocessor = data.Preprocessor.fit(examples, config.data)
        images = torch.from_numpy(preprocessor.encode(examples)["image"])
        labels = torch.from_numpy(preprocessor.encode_targets(examples))

        def fresh_model() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
            torch.manual_seed(0)
            model = model_module.build_model(config.model, preprocessor).train()
            return model, torch.optim.AdamW(model.parameters(), lr=config.optim.lr)

        def in_memory() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            generator = torch.Generator().manual_seed(0)
            while True:
                order = torch.randperm(len(labels), generator=generator)
                for i in range(0, len(order) - args.batch_size + 1, args.batch_size):
                    index = order[i : i + args.batch_size]
                    yield images[index], labels[index]

        def from_loader() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            augment_seed = config.seed if config.data.augment else None
            dataset = pipeline.make_dataset(examples, preprocessor, augment_seed)
            loader = pipeline.train_loader(
                dataset, env, args.batch_size, config.data.num_workers, config.seed
            )
            epoch = 0
            while True:
                loader.sampler.start(epoch)
                for batch in loader:
                    yield batch["image"], batch["target"]
                epoch += 1

        def hand_written(batches: Iterator[tuple[torch.Tensor, torch.Tensor]]) -> float:
            model, optimizer = fresh_model()

            def step() -> None:
                x, y = next(batches)
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)

            return args.batch_size / time_steps(step, args.warmup, args.steps)

        def project_train(repeat: int) -> float:
            run_dir = Path(tmp) / "runs"
            train.main(
                [
                    *overrides,
                    f"run.dir={run_dir}",
                    f"run.name=r{repeat}",
                    f"trainer.max_steps={args.warmup + args.steps}",
                    f"trainer.checkpoint_every={args.warmup + args.steps}",
                    f"log.every={WINDOW}",
                    "log.tensorboard=false",
                ]
            )
            records = [
                json.loads(line) for line in (run_dir / f"r{repeat}" / "metrics.jsonl").open()
            ]
            timed = [r for r in records if r["split"] == "train" and r["step"] > args.warmup]
            return max(r["samples_per_s"] for r in timed)

        results: dict[str, list[float]] = {"hand": [], "hand+loader": [], "project": []}
        for repeat in range(args.repeats):
            results["hand"].append(hand_written(in_memory()))
            results["hand+loader"].append(hand_written(from_loader()))
            results["project"].append(project_train(repeat))
        best = {name: max(values) for name, values in results.items()}

    threads = torch.get_num_threads()
    print(
        f"\nPyTorch {torch.__version__}, image task, {env.device}, {threads} threads, batch "
        f"{args.batch_size}, {config.data.image_size}px, widths {config.model.widths}, "
        f"data.num_workers={config.data.num_workers}, augment={config.data.augment}; "
        f"{args.steps} timed steps after {args.warmup}, best of {args.repeats} runs; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    for name, label in (
        ("hand", "hand-written loop, batches in memory"),
        ("hand+loader", "hand-written loop + project DataLoader"),
        ("project", "project train.main (pipeline on)"),
    ):
        runs = ", ".join(f"{v:.1f}" for v in results[name])
        print(f"  {label:<42} {best[name]:8.1f} samples/s  ({runs})")
    print(f"  project / hand-written (in memory)         {best['project'] / best['hand']:.3f}x")
    print(
        f"  project / hand-written + same DataLoader   {best['project'] / best['hand+loader']:.3f}x"
    )
    pipeline_share = 1 - best["hand+loader"] / best["hand"]
    print(f"  data pipeline share of step time           {100 * pipeline_share:.1f}%")
