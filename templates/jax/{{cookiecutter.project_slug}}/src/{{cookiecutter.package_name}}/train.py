"""Training:

    python -m {{ cookiecutter.package_name }}.train [--config FILE] [key=value ...]

Writes `runs/<run.name>/` (see runs.py). Restarting a run resumes from its latest checkpoint:
model, optimizer, step and the position in the data stream, so it continues exactly where it
stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Iterator

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh
from tensorboardX import SummaryWriter
from tqdm import tqdm

from {{ cookiecutter.package_name }} import devices
from {{ cookiecutter.package_name }}.checkpoint import Checkpoints
from {{ cookiecutter.package_name }}.config import (
    Config,
    LogConfig,
    OptimConfig,
    add_config_arguments,
    config_from_args,
)
from {{ cookiecutter.package_name }}.data import PREPROCESSOR_FILE, Preprocessor, load_split
from {{ cookiecutter.package_name }}.data.pipeline import Split, train_batches
from {{ cookiecutter.package_name }}.errors import ConfigError, exit_on_user_error
from {{ cookiecutter.package_name }}.evaluate import evaluate
from {{ cookiecutter.package_name }}.model import create_model
from {{ cookiecutter.package_name }}.runs import Run

TrainStep = Callable[[nnx.Module, nnx.Optimizer, dict[str, jax.Array], jax.Array], jax.Array]


def loss_fn(objective: str, outputs: jax.Array, targets: jax.Array) -> jax.Array:
    """Mean cross-entropy of the logits, or mean squared error of the standardised target."""
    if objective == "classification":
        return optax.softmax_cross_entropy_with_integer_labels(outputs, targets).mean()
    return jnp.mean((outputs[:, 0] - targets) ** 2)


def make_train_step(objective: str, compile: bool) -> TrainStep:
    def train_step(
        model: nnx.Module,
        optimizer: nnx.Optimizer,
        inputs: dict[str, jax.Array],
        targets: jax.Array,
    ) -> jax.Array:
        def loss_of(model: nnx.Module) -> jax.Array:
            return loss_fn(objective, model(**inputs), targets)

        loss, grads = nnx.value_and_grad(loss_of)(model)
        optimizer.update(model, grads)
        devices.shard_as_annotated(model, optimizer)
        return loss

    # The model and optimizer buffers are donated: updated in place, no second copy.
    return nnx.jit(train_step, donate_argnames=("model", "optimizer")) if compile else train_step


def make_optimizer(
    config: OptimConfig, total_steps: int
) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """AdamW or SGD with Nesterov momentum: linear warmup, cosine decay, clipping; no weight
    decay on biases and normalisation scales."""
    warmup = min(config.warmup_steps, total_steps - 1)
    schedule = optax.warmup_cosine_decay_schedule(0.0, config.lr, warmup, total_steps)

    def decay_mask(params: nnx.State) -> nnx.State:
        return jax.tree.map(lambda p: p.ndim > 1, params)

    if config.name == "adamw":
        optimizer = optax.adamw(schedule, weight_decay=config.weight_decay, mask=decay_mask)
    else:
        optimizer = optax.chain(
            optax.add_decayed_weights(config.weight_decay, decay_mask),
            optax.sgd(schedule, momentum=0.9, nesterov=True),
        )
    if config.grad_clip > 0:
        optimizer = optax.chain(optax.clip_by_global_norm(config.grad_clip), optimizer)
    return optimizer, schedule


def init_state(
    config: Config, preprocessor: Preprocessor, dtype: jnp.dtype, tx: optax.GradientTransformation
) -> tuple[nnx.Module, nnx.Optimizer]:
    """The model and its optimizer, created in place on the current mesh: each array sharded as
    annotated in model.py, the others replicated."""

    @nnx.jit
    def init() -> tuple[nnx.Module, nnx.Optimizer]:
        rngs = nnx.Rngs(params=config.seed, dropout=config.seed + 1)
        model = create_model(config.model, preprocessor, dtype, rngs)
        optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
        devices.shard_as_annotated(model, optimizer)
        return model, optimizer

    return init()


class Logger:
    """Progress bar, metrics.jsonl and TensorBoard, written by the primary process only."""

    def __init__(self, run: Run, config: LogConfig, start: int, total: int) -> None:
        self.run = run
        self.primary = devices.is_primary()
        self.progress = tqdm(total=total, initial=start, disable=not self.primary, unit="step")
        self.writer = None
        if config.tensorboard and self.primary:
            self.writer = SummaryWriter(str(run.tensorboard))

    def log(self, record: dict[str, float | int | str]) -> None:
        if not self.primary:
            return
        self.run.log_metrics(record)
        step, split = record["step"], record["split"]
        if self.writer:
            for name, value in record.items():
                if name not in ("step", "split", "epoch"):
                    self.writer.add_scalar(f"{split}/{name}", value, step)
        if split == "val":
            metrics = ", ".join(f"{k} {v:.4f}" for k, v in record.items() if isinstance(v, float))
            self.progress.write(f"epoch {record['epoch']} (step {step}): val {metrics}")

    def close(self) -> None:
        self.progress.close()
        if self.writer:
            self.writer.close()


class Throughput:
    """Samples per second and the share of that time spent waiting for data, per interval."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.start, self.steps, self.data_seconds = time.perf_counter(), 0, 0.0

    @contextlib.contextmanager
    def waiting_for_data(self) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.data_seconds += time.perf_counter() - start

    def count_step(self) -> None:
        self.steps += 1

    def restart(self) -> float:
        """Start a new interval; return the seconds of the one that ends."""
        now = time.perf_counter()
        seconds, self.start, self.steps, self.data_seconds = now - self.start, now, 0, 0.0
        return seconds

    def report(self) -> dict[str, float]:
        steps, data_seconds = self.steps, self.data_seconds
        seconds = self.restart()
        if not steps:
            return {}
        return {
            "samples_per_s": steps * self.batch_size / seconds,
            "data_time_fraction": data_seconds / seconds,
        }


def load_splits(config: Config) -> tuple[Split, Split, Preprocessor]:
    train = load_split(config.data, "train")
    preprocessor = Preprocessor.fit(train, config.data)
    val = load_split(config.data, "val")
    return Split(train, preprocessor), Split(val, preprocessor), preprocessor


def train(config: Config) -> None:
    """Train as configured; a run that has checkpoints resumes from its latest."""
    devices.initialize_distributed()
    devices.enable_compilation_cache(config.trainer.compilation_cache)
    mesh = devices.create_mesh(config.trainer)
    with jax.set_mesh(mesh):
        _train(config, mesh)


def _train(config: Config, mesh: Mesh) -> None:
    dtype = devices.compute_dtype(config.trainer.precision)
    run = Run.of(config)
    train_split, val_split, preprocessor = load_splits(config)
    batch_size = config.data.batch_size
    local_batch_size = devices.local_batch_size(batch_size, mesh)
    steps_per_epoch = len(train_split) // batch_size
    if not steps_per_epoch:
        raise ConfigError(
            f"data.batch_size={batch_size} is larger than the {len(train_split)} training examples"
        )
    total_steps = config.trainer.max_steps
    if total_steps <= 0:
        total_steps = config.trainer.max_epochs * steps_per_epoch
    if devices.is_primary():
        run.prepare(config)
        preprocessor.save(run.root / PREPROCESSOR_FILE)

    tx, schedule = make_optimizer(config.optim, total_steps)
    model, optimizer = init_state(config, preprocessor, dtype, tx)
    batches = train_batches(
        train_split,
        local_batch_size,
        config.seed,
        config.data.num_workers,
{%- if cookiecutter.task == "image" %}
        config.data.augment,
{%- endif %}
    )
    checkpoints = Checkpoints(run.checkpoints, config.trainer.keep_checkpoints)
    step = checkpoints.latest_step or 0
    if step:
        checkpoints.restore(step, model, optimizer, batches)
        print(f"Resumed from step {step} ({run.checkpoints / str(step)})", flush=True)

    train_step = make_train_step(preprocessor.objective, config.trainer.compile)
    sharding = devices.batch_sharding(mesh)
    logger = Logger(run, config.log, step, total_steps)
    throughput = Throughput(batch_size)
    losses: list[jax.Array] = []
    compiled = False
    while step < total_steps:
        with throughput.waiting_for_data():
            batch = devices.put_batch(next(batches), sharding)
        targets = batch.pop("target")
        losses.append(train_step(model, optimizer, batch, targets))
        step += 1
        throughput.count_step()
        logger.progress.update()
        if not compiled:
            jax.block_until_ready(losses[-1])
            logger.progress.write(f"First step, compilation included: {throughput.restart():.1f} s")
            compiled = True

        if step % config.log.every == 0 or step == total_steps:
            checkpoints.wait()  # a logged step never runs ahead of an unwritten checkpoint
            loss = float(jnp.mean(jnp.stack(losses)))
            record = {"split": "train", "step": step, "loss": loss, "lr": float(schedule(step - 1))}
            logger.log({**record, **throughput.report()})
            logger.progress.set_postfix(loss=f"{loss:.4f}")
            losses = []
        if step % config.trainer.checkpoint_every == 0 or step == total_steps:
            checkpoints.save(step, model, optimizer, batches)
        if step % steps_per_epoch == 0:
            metrics = evaluate(model, val_split, preprocessor, config, mesh)
            logger.log({"split": "val", "step": step, "epoch": step // steps_per_epoch, **metrics})
            throughput.restart()
    checkpoints.close()
    batches.close()
    logger.close()


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Train the model; a run that has checkpoints resumes from its latest."
    )
    add_config_arguments(parser)
    train(config_from_args(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
