"""Fine-tuning throughput with a pretrained backbone: the generated image project vs a
hand-written loop around the same model, per framework.

    python bench/pretrained.py [--framework pytorch|tensorflow|jax] [--steps 20] [--image-size 224]

PyTorch (`--framework pytorch`, the default):

Run it with the PyTorch environment plus the template's requirements/pretrained.txt and
cookiecutter. Nothing is downloaded: the "published" model is a ResNet-18-shaped
`ResNetForImageClassification` (transformers; random weights) saved with `save_pretrained` into a
temporary folder, which `model.pretrained` points at. Measured in one process, same batches of
the sample data's train split resized to `--image-size` (its val split removed, so no evaluation
falls inside the project's timed windows):

- `hand-written`: transformers' `ResNetForImageClassification` (its own classifier replaced by a
  head for the sample's classes), cross-entropy, backward, AdamW, over batches decoded up front;
- `hand-written + project DataLoader`: the same loop fed by the project's DataLoader;
- `project train`: `train.main` with `model.backbone=transformers` (backbone LR scale, schedule,
  clipping, metering), its samples/s per window read from metrics.jsonl.

Each is run `--repeats` times, interleaved; a run's figure is its fastest window of WINDOW steps
after `--warmup` untimed steps, and the best run is reported (as `timeit` does).

TensorFlow: the "published" model is a ResNet-18-shaped keras-hub `ResNetBackbone` (random
weights) saved with `save_to_preset`; `hand-written` is keras-hub's `ResNetImageClassifier` around
it (a new head for the sample's classes), a `tf.function` step with `GradientTape`, sparse
cross-entropy and Keras' AdamW over batches decoded up front (not XLA-compiled, as the project's
default `trainer.compile=false`), against `project train` with `model.backbone=keras_hub`.

JAX (`--framework jax`): run it with the JAX environment plus cookiecutter; nothing else (no
torch, no transformers). The "published" ResNet-18 is written by the project itself: its Flax NNX
ResNet (random weights) saved under the transformers names and layouts (`pretrained.hf_key`) as
`model.safetensors` with a `config.json`. The loops, over the same in-memory batches:

- `hand-written`: that NNX model after `pretrained.load_weights`, a `jax.jit` step over
  `nnx.split` state with its buffers donated, plain `optax.adamw`, cross-entropy;
- `project train`: `train.main` with `model.backbone=transformers` (Grain pipeline, backbone LR
  split, schedule, clipping, metering), its samples/s per window read from metrics.jsonl.

Timing as for PyTorch (fastest window, best of `--repeats`), each window ended by
`block_until_ready`.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from baking import bake_image_project, import_modules

PACKAGE = "bench_pretrained"
WINDOW = 5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps after warm-up")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each loop (best kept)")
    parser.add_argument("--framework", choices=("pytorch", "tensorflow", "jax"), default="pytorch")
    return parser.parse_args(argv)


def time_steps(
    step: Callable[[], None], warmup: int, steps: int, wait: Callable[[], None] = lambda: None
) -> float:
    """Seconds per step in the fastest window of WINDOW steps, after `warmup` untimed steps;
    `wait` ends a window (JAX: until the last step's results are computed)."""
    for _ in range(warmup):
        step()
    wait()
    times = []
    for _ in range(max(1, steps // WINDOW)):
        start = time.perf_counter()
        for _ in range(WINDOW):
            step()
        wait()
        times.append((time.perf_counter() - start) / WINDOW)
    return min(times)


def publish_resnet18(folder: Path) -> None:
    from transformers import ResNetConfig, ResNetForImageClassification

    config = ResNetConfig(
        embedding_size=64,
        hidden_sizes=[64, 128, 256, 512],
        depths=[2, 2, 2, 2],
        layer_type="basic",
    )
    ResNetForImageClassification(config).save_pretrained(folder)


def sample_without_evaluation(data: ModuleType, folder: Path) -> Path:
    """The project's sample data, its val and test splits removed: no evaluation falls inside
    the project's timed windows."""
    data.write_sample(folder)
    for split in ("val", "test"):
        shutil.rmtree(folder / split)
    return folder


def shuffled_batches(
    images: np.ndarray, labels: np.ndarray, batch_size: int, convert: Callable[[np.ndarray], Any]
) -> Iterator[tuple[Any, Any]]:
    """Whole batches of the arrays, reshuffled each epoch, converted to the framework's type."""
    rng = np.random.default_rng(0)
    while True:
        order = rng.permutation(len(labels))
        for i in range(0, len(order) - batch_size + 1, batch_size):
            index = order[i : i + batch_size]
            yield convert(images[index]), convert(labels[index])


def project_samples_per_s(
    args: argparse.Namespace, train: ModuleType, overrides: list[str], run_dir: Path, repeat: int
) -> float:
    """`train.main` for warm-up + timed steps; its fastest window's samples/s (metrics.jsonl)."""
    total = args.warmup + args.steps
    train.main(
        [
            *overrides,
            f"run.dir={run_dir}",
            f"run.name=r{repeat}",
            f"trainer.max_steps={total}",
            f"trainer.checkpoint_every={total}",
            f"log.every={WINDOW}",
            "log.tensorboard=false",
            "log.report=false",
            "log.mlflow=false",
        ]
    )
    lines = (run_dir / f"r{repeat}" / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    timed = [r for r in records if r["split"] == "train" and r["step"] > args.warmup]
    return max(r["samples_per_s"] for r in timed)


def interleaved(repeats: int, loops: dict[str, Callable[[int], float]]) -> dict[str, list[float]]:
    """Each loop's samples/s in each of `repeats` rounds, the loops taking turns."""
    results: dict[str, list[float]] = {name: [] for name in loops}
    for repeat in range(repeats):
        for name, loop in loops.items():
            results[name].append(loop(repeat))
    return results


def print_results(header: str, labels: dict[str, str], results: dict[str, list[float]]) -> None:
    """The best run of each loop (all runs in brackets), then the project's over each other."""
    print(f"\n{header}; load average {os.getloadavg()[0]:.1f}")
    best = {name: max(values) for name, values in results.items()}
    for name, label in labels.items():
        runs = ", ".join(f"{v:.1f}" for v in results[name])
        print(f"  {label:<48} {best[name]:8.1f} samples/s  ({runs})")
    for name, label in labels.items():
        if name != "project":
            print(f"  project / {label:<38} {best['project'] / best[name]:8.3f}x")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    {"pytorch": bench_pytorch, "tensorflow": bench_tensorflow, "jax": bench_jax}[args.framework](
        args
    )


def bench_pytorch(args: argparse.Namespace) -> None:
    import torch
    import torch.nn.functional as F
    import transformers
    from transformers import ResNetForImageClassification

    transformers.logging.set_verbosity_error()  # the new classifier's load report
    transformers.logging.disable_progress_bar()
    with tempfile.TemporaryDirectory() as tmp:
        project = bake_image_project("pytorch", Path(tmp), PACKAGE)
        config_module, data, devices, pipeline, train = import_modules(
            project, PACKAGE, "config", "data", "devices", "data.pipeline", "train"
        )
        weights = Path(tmp) / "resnet-18"
        publish_resnet18(weights)
        data_path = sample_without_evaluation(data, Path(tmp) / "data")
        overrides = [
            f"data.path={data_path}",
            f"data.batch_size={args.batch_size}",
            f"data.image_size={args.image_size}",
            "model.backbone=transformers",
            f"model.pretrained={weights}",
        ]
        config = config_module.load_config(overrides=overrides)
        env = devices.single_device()
        examples = data.load_split(config.data, "train")
        preprocessor = data.Preprocessor.fit(examples, config.data)
        images = preprocessor.encode(examples)["image"]
        labels = preprocessor.encode_targets(examples)

        def fresh_model() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
            torch.manual_seed(0)
            model = ResNetForImageClassification.from_pretrained(
                weights, num_labels=preprocessor.output_size, ignore_mismatched_sizes=True
            ).train()
            return model, torch.optim.AdamW(model.parameters(), lr=config.optim.lr)

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
                logits = model(pixel_values=x.permute(0, 3, 1, 2)).logits
                F.cross_entropy(logits, y).backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)

            return args.batch_size / time_steps(step, args.warmup, args.steps)

        project = functools.partial(
            project_samples_per_s, args, train, overrides, Path(tmp) / "runs"
        )
        in_memory = functools.partial(
            shuffled_batches, images, labels, args.batch_size, torch.from_numpy
        )
        results = interleaved(
            args.repeats,
            {
                "hand": lambda _: hand_written(in_memory()),
                "hand+loader": lambda _: hand_written(from_loader()),
                "project": project,
            },
        )

    print_results(
        f"PyTorch {torch.__version__}, ResNet-18 (transformers), {env.device}, "
        f"{torch.get_num_threads()} threads, batch {args.batch_size}, {args.image_size}px, "
        f"data.num_workers={config.data.num_workers}; {args.steps} timed steps after "
        f"{args.warmup}, best of {args.repeats} runs",
        {
            "hand": "hand-written loop, batches in memory",
            "hand+loader": "hand-written loop + project DataLoader",
            "project": "project train.main, model.backbone=transformers",
        },
        results,
    )


RESNET18 = {
    "model_type": "resnet",
    "embedding_size": 64,
    "hidden_sizes": [64, 128, 256, 512],
    "depths": [2, 2, 2, 2],
    "layer_type": "basic",
}


def publish_resnet18_jax(pretrained: ModuleType, folder: Path) -> None:
    """A ResNet-18 as transformers publishes it (config.json, model.safetensors), written from
    the project's own NNX ResNet with random weights through its key mapping."""
    import jax.numpy as jnp
    from flax import nnx

    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(RESNET18))
    backbone = pretrained.ResNetBackbone(
        {**pretrained.RESNET_DEFAULTS, **RESNET18}, dtype=jnp.float32, rngs=nnx.Rngs(0)
    )
    state = nnx.state(backbone, nnx.Any(nnx.Param, nnx.BatchStat))
    tensors = {}
    for path, variable in nnx.to_flat_state(state):
        array = np.asarray(variable[...], np.float32)
        if array.ndim == 4:  # (h, w, in, out) -> (out, in, h, w)
            array = array.transpose(3, 2, 0, 1)
        tensors[pretrained.hf_key(path)] = np.ascontiguousarray(array)
    header, offset = {}, 0
    for name, array in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(array.shape)}
        header[name]["data_offsets"] = [offset, offset + array.nbytes]
        offset += array.nbytes
    encoded = json.dumps(header).encode()
    with (folder / "model.safetensors").open("wb") as file:
        file.write(len(encoded).to_bytes(8, "little") + encoded)
        for array in tensors.values():
            file.write(array.tobytes())


def bench_jax(args: argparse.Namespace) -> None:
    import jax
    import optax
    from flax import nnx

    with tempfile.TemporaryDirectory() as tmp:
        project = bake_image_project("jax", Path(tmp), PACKAGE)
        config_module, data, devices, model_module, pretrained, train = import_modules(
            project, PACKAGE, "config", "data", "devices", "model", "pretrained", "train"
        )
        weights = Path(tmp) / "resnet-18"
        data_path = sample_without_evaluation(data, Path(tmp) / "data")
        overrides = [
            f"data.path={data_path}",
            f"data.batch_size={args.batch_size}",
            f"data.image_size={args.image_size}",
            "model.backbone=transformers",
            f"model.pretrained={weights}",
            "trainer.compilation_cache=",
        ]
        publish_resnet18_jax(pretrained, weights)
        config = config_module.load_config(overrides=overrides)
        examples = data.load_split(config.data, "train")
        preprocessor = data.Preprocessor.fit(examples, config.data)
        images = preprocessor.encode(examples)["image"]
        labels = preprocessor.encode_targets(examples).astype(np.int32)
        dtype = devices.compute_dtype(config.trainer.precision)

        def hand_written(_: int) -> float:
            rngs = nnx.Rngs(params=0, dropout=1)
            model = model_module.create_model(config.model, preprocessor, dtype, rngs)
            pretrained.load_weights(model, config.model, None)
            optimizer = nnx.Optimizer(model, optax.adamw(config.optim.lr), wrt=nnx.Param)
            graph, state = nnx.split((model, optimizer))

            @functools.partial(jax.jit, donate_argnums=0)
            def train_step(
                state: nnx.State, x: jax.Array, y: jax.Array
            ) -> tuple[nnx.State, jax.Array]:
                model, optimizer = nnx.merge(graph, state)

                def loss_fn(model: nnx.Module) -> jax.Array:
                    logits = model(x)
                    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

                loss, grads = nnx.value_and_grad(loss_fn)(model)
                optimizer.update(model, grads)
                return nnx.state((model, optimizer)), loss

            batches = shuffled_batches(images, labels, args.batch_size, np.asarray)
            holder = [state, None]

            def step() -> None:
                holder[0], holder[1] = train_step(holder[0], *next(batches))

            def wait() -> None:
                jax.block_until_ready(holder[1])

            return args.batch_size / time_steps(step, args.warmup, args.steps, wait)

        project = functools.partial(
            project_samples_per_s, args, train, overrides, Path(tmp) / "runs"
        )
        results = interleaved(args.repeats, {"hand": hand_written, "project": project})

    print_results(
        f"JAX {jax.__version__}, ResNet-18 (Flax NNX, transformers weights layout), "
        f"{jax.devices()[0].platform} x {jax.device_count()}, {os.cpu_count()} CPUs, "
        f"batch {args.batch_size}, {args.image_size}px, data.num_workers="
        f"{config.data.num_workers}; {args.steps} timed steps after {args.warmup}, best of "
        f"{args.repeats} runs",
        {
            "hand": "hand-written jax.jit loop, batches in memory",
            "project": "project train.main, model.backbone=transformers",
        },
        results,
    )


def publish_keras_resnet18(folder: Path) -> None:
    import keras_hub

    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 128, 256, 512],
        stackwise_num_blocks=[2, 2, 2, 2],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="basic_block",
    )
    keras_hub.models.ResNetImageClassifier(backbone, num_classes=1000).save_to_preset(str(folder))


def bench_tensorflow(args: argparse.Namespace) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import keras_hub
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        project = bake_image_project("tensorflow", Path(tmp), PACKAGE)
        config_module, data, train = import_modules(project, PACKAGE, "config", "data", "train")
        weights = Path(tmp) / "resnet-18"
        publish_keras_resnet18(weights)
        data_path = sample_without_evaluation(data, Path(tmp) / "data")
        overrides = [
            f"data.path={data_path}",
            f"data.batch_size={args.batch_size}",
            f"data.image_size={args.image_size}",
            "model.backbone=keras_hub",
            f"model.pretrained={weights}",
        ]
        config = config_module.load_config(overrides=overrides)
        examples = data.load_split(config.data, "train")
        preprocessor = data.Preprocessor.fit(examples, config.data)
        images = preprocessor.encode(examples)["image"]
        labels = preprocessor.encode_targets(examples)

        def hand_written(_: int) -> float:
            keras.utils.set_random_seed(0)
            backbone = keras_hub.models.Backbone.from_preset(str(weights))
            model = keras_hub.models.ResNetImageClassifier(
                backbone, num_classes=preprocessor.output_size
            )
            optimizer = keras.optimizers.AdamW(learning_rate=config.optim.lr)
            loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            batches = shuffled_batches(images, labels, args.batch_size, tf.constant)

            @tf.function
            def train_step(x: tf.Tensor, y: tf.Tensor) -> None:
                with tf.GradientTape() as tape:
                    loss = loss_fn(y, model(x, training=True))
                grads = tape.gradient(loss, model.trainable_variables)
                optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))

            return args.batch_size / time_steps(
                lambda: train_step(*next(batches)), args.warmup, args.steps
            )

        project = functools.partial(
            project_samples_per_s, args, train, overrides, Path(tmp) / "runs"
        )
        results = interleaved(args.repeats, {"hand": hand_written, "project": project})

    print_results(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, keras-hub "
        f"{keras_hub.__version__}, ResNet-18 (keras-hub), CPU, batch {args.batch_size}, "
        f"{args.image_size}px; {args.steps} timed steps after {args.warmup}, best of "
        f"{args.repeats} runs",
        {
            "hand": "hand-written loop, batches in memory",
            "project": "project train.main, model.backbone=keras_hub",
        },
        results,
    )


if __name__ == "__main__":
    main()
