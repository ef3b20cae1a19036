"""JAX: the generated image project's training vs a minimal hand-written jitted Flax loop.

Bakes `templates/jax` (image task) into a temporary folder, writes its sample data, and measures
in one process, with the same model (the project's `create_model`, default config), batch size
and data:

- `hand-written`: the Flax performance guide's functional loop: `nnx.split` once, a `jax.jit`
  step over the state with its buffers donated, plain `optax.adamw`, over batches decoded up
  front into memory;
- `project step`: the project's own train step (`make_train_step`: `nnx.jit`, donated model and
  optimizer, clipping, warmup-cosine AdamW, sharding constraints) and `devices.put_batch` on the
  project's mesh, over the same in-memory batches;
- `project train`: the project's `train.main`, Grain pipeline included (decoding and augmentation
  in `data.num_workers` worker processes), its samples/s from metrics.jsonl.

Steps are timed in blocks of `--steps` after `--warmup` untimed ones, ended by
`block_until_ready` (JAX dispatches asynchronously); `--repeats` blocks of each, interleaved;
medians printed. Compilation is timed apart: the first call of each step, tracing included.
Needs the template's requirements/cpu.txt and cookiecutter in the running environment.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from baking import bake_image_project, import_modules

PACKAGE = "bench_image"


def write_data(data: object, out: Path, train_images: int) -> None:
    """The sample dataset, its training split grown to `train_images` by more seeds, so that the
    project's run ends within one epoch (no evaluation inside the timed steps)."""
    data.write_sample(out)
    seed = 0
    while sum(1 for _ in (out / "train").rglob("*.png")) < train_images:
        seed += 1
        extra = out.parent / f"seed{seed}"
        data.write_sample(extra, seed=seed)
        for image in (extra / "train").rglob("*.png"):
            image.rename(out / "train" / image.parent.name / f"s{seed}_{image.name}")
        shutil.rmtree(extra)


def timed_block(step: Callable[[], object], steps: int) -> float:
    """Seconds per step over `steps` consecutive steps, the last one waited for."""
    import jax

    start = time.perf_counter()
    for _ in range(steps):
        out = step()
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / steps


def first_call(step: Callable[[], object]) -> float:
    """Seconds of a step's first call: tracing, compilation and one run."""
    import jax

    start = time.perf_counter()
    jax.block_until_ready(step())
    return time.perf_counter() - start


def main(args: argparse.Namespace) -> None:
    import jax
    import numpy as np
    import optax
    from flax import nnx

    with tempfile.TemporaryDirectory() as tmp:
        project = bake_image_project("jax", Path(tmp), PACKAGE)
        config_module, data, devices, model_module, train = import_modules(
            project, PACKAGE, "config", "data", "devices", "model", "train"
        )

        data_path = Path(tmp) / "data"
        train_steps = args.steps * (args.repeats + 1)
        write_data(data, data_path, train_steps * args.batch_size)
        overrides = [
            f"data.path={data_path}",
            f"data.batch_size={args.batch_size}",
            "trainer.compilation_cache=",
        ]
        config = config_module.load_config(overrides=overrides)
        examples = data.load_split(config.data, "train")
        preprocessor = data.Preprocessor.fit(examples, config.data)
        images = preprocessor.encode(examples)["image"]
        labels = preprocessor.encode_targets(examples).astype(np.int32)
        dtype = devices.compute_dtype(config.trainer.precision)

        def in_memory() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            rng = np.random.default_rng(0)
            while True:
                order = rng.permutation(len(labels))
                for i in range(0, len(order) - args.batch_size + 1, args.batch_size):
                    index = order[i : i + args.batch_size]
                    yield images[index], labels[index]

        def hand_written() -> Callable[[], object]:
            model = model_module.create_model(
                config.model, preprocessor, dtype, nnx.Rngs(params=0, dropout=1)
            )
            optimizer = nnx.Optimizer(model, optax.adamw(config.optim.lr), wrt=nnx.Param)
            graph, state = nnx.split((model, optimizer))

            @functools.partial(jax.jit, donate_argnums=0)
            def step(state: nnx.State, x: jax.Array, y: jax.Array) -> tuple[nnx.State, jax.Array]:
                model, optimizer = nnx.merge(graph, state)

                def loss_fn(model: nnx.Module) -> jax.Array:
                    logits = model(x)
                    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

                loss, grads = nnx.value_and_grad(loss_fn)(model)
                optimizer.update(model, grads)
                return nnx.state((model, optimizer)), loss

            batches, holder = in_memory(), [state]

            def run() -> jax.Array:
                holder[0], loss = step(holder[0], *next(batches))
                return loss

            return run

        def project_step() -> Callable[[], object]:
            mesh = devices.create_mesh(config.trainer)
            tx, _ = train.make_optimizer(config.optim, train_steps)
            with jax.set_mesh(mesh):
                model, optimizer = train.init_state(config, preprocessor, dtype, tx)
            step = train.make_train_step(preprocessor.objective, compile=True)
            sharding = devices.batch_sharding(mesh)
            batches = in_memory()

            def run() -> jax.Array:
                x, y = next(batches)
                batch = devices.put_batch({"image": x, "target": y}, sharding)
                targets = batch.pop("target")
                with jax.set_mesh(mesh):
                    return step(model, optimizer, batch, targets)

            return run

        def project_train() -> tuple[float, float]:
            """samples/s and wall seconds of the project's own training."""
            run_dir = Path(tmp) / "runs"
            start = time.perf_counter()
            train.main(
                [
                    *overrides,
                    f"run.dir={run_dir}",
                    "run.name=bench",
                    f"trainer.max_steps={train_steps}",
                    f"trainer.checkpoint_every={train_steps}",
                    f"log.every={args.steps}",
                    "log.tensorboard=false",
                ]
            )
            wall = time.perf_counter() - start
            records = [json.loads(line) for line in (run_dir / "bench" / "metrics.jsonl").open()]
            timed = [r for r in records if r["split"] == "train" and "samples_per_s" in r]
            timed = timed[1:]  # the first interval holds the warm-up steps
            return statistics.median(r["samples_per_s"] for r in timed), wall

        hand, project = hand_written(), project_step()
        compile_hand, compile_project = first_call(hand), first_call(project)
        for _ in range(args.warmup):
            hand(), project()
        seconds: dict[str, list[float]] = {"hand": [], "project": []}
        for _ in range(args.repeats):
            seconds["hand"].append(timed_block(hand, args.steps))
            seconds["project"].append(timed_block(project, args.steps))
        hand_rate = args.batch_size / statistics.median(seconds["hand"])
        step_rate = args.batch_size / statistics.median(seconds["project"])
        train_rate, wall = project_train()

    print(
        f"JAX {jax.__version__} on {jax.devices()[0].platform} ({jax.device_count()} device(s)); "
        f"image model widths={config.model.widths}, batch {args.batch_size}, "
        f"{config.data.image_size}x{config.data.image_size}, "
        f"{args.repeats} x {args.steps} timed steps after {args.warmup} warm-up"
    )
    rows = [
        ("hand-written (jax.jit, in memory)", hand_rate),
        ("project step (in memory)", step_rate),
        ("project train (Grain pipeline)", train_rate),
    ]
    print(f"{'loop':<34}{'samples/s':>10}{'vs hand':>9}")
    for name, rate in rows:
        print(f"{name:<34}{rate:>10.1f}{rate / hand_rate:>9.2f}")
    print(
        f"compilation (first call, tracing included): hand-written {compile_hand:.1f} s, "
        f"project step {compile_project:.1f} s; project train wall {wall:.1f} s in all"
    )
