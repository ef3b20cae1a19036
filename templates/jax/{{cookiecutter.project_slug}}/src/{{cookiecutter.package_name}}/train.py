"""Training:

    python -m {{ cookiecutter.package_name }}.train [--config FILE] [key=value ...]

Writes `runs/<run.name>/` (see runs.py): the resolved config, the preprocessing fitted on the
training split, checkpoints, metrics.jsonl and TensorBoard events. Restarting a run resumes from
its latest checkpoint: model, optimizer, step and the position in the data stream (augmentation
depends only on it), so it continues exactly where it stopped. On a stop signal
(`trainer.stop_signals`) it checkpoints the step it is at and exits 75 to be started again
(preemption.py).
Exit status: 0 done, 2 a problem with the config or the data, 75 preempted (run the same command
again to resume), 1 anything else (a full disk).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh
from tensorboardX import SummaryWriter
from tqdm import tqdm

from {{ cookiecutter.package_name }} import (
    console,
    devices,
    preemption,
{%- if cookiecutter.task != "tabular" %}
    pretrained,
{%- endif %}
    recipe,
    report,
    tracking,
)
from {{ cookiecutter.package_name }}.checkpoint import Checkpoints, DiskFull
from {{ cookiecutter.package_name }}.config import (
    Config,
    LogConfig,
    OptimConfig,
    add_config_arguments,
    config_from_args,
)
from {{ cookiecutter.package_name }}.data import (
    PREPROCESSOR_FILE,
    Example,
    Preprocessor,
    has_split,
    load_split,
)
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
{%- if cookiecutter.task == "image" %}


# The batch norm statistics `reweigh_batch_statistics` averages evenly over the first steps; a
# pretrained backbone's keep their published values and move by the fixed momentum.
SCRATCH_STATISTICS = nnx.All(nnx.BatchStat, nnx.Not(nnx.PathContains("backbone")))


def reweigh_batch_statistics(model: nnx.Module, before: nnx.State, step: jax.Array) -> None:
    """`recipe.batch_norm_momentum` in jnp ops: the batch norm layers moved their running
    statistics by `BATCH_NORM_MOMENTUM`; rescale the move to the batch's weight at optimizer step
    `step` (an even average over the first steps)."""
    weight = jnp.maximum(recipe.BATCH_NORM_MOMENTUM, 1 / (step + 1))
    scale = weight / recipe.BATCH_NORM_MOMENTUM
    after = nnx.state(model, SCRATCH_STATISTICS)
    nnx.update(model, jax.tree.map(lambda b, a: b + (a - b) * scale, before, after))
{%- endif %}


def make_train_step(objective: str, compile: bool) -> TrainStep:
    def train_step(
        model: nnx.Module,
        optimizer: nnx.Optimizer,
        inputs: dict[str, jax.Array],
        targets: jax.Array,
    ) -> jax.Array:
        def loss_of(model: nnx.Module) -> jax.Array:
            return loss_fn(objective, model(**inputs), targets)
{% if cookiecutter.task == "image" %}
        statistics = jax.tree.map(lambda x: x, nnx.state(model, SCRATCH_STATISTICS))  # a copy
        loss, grads = nnx.value_and_grad(loss_of)(model)
        reweigh_batch_statistics(model, statistics, optimizer.step[...])
{%- else %}
        loss, grads = nnx.value_and_grad(loss_of)(model)
{%- endif %}
        optimizer.update(model, grads)
        devices.shard_as_annotated(model, optimizer)
        return loss

    # The model and optimizer buffers are donated: updated in place, no second copy.
    return nnx.jit(train_step, donate_argnames=("model", "optimizer")) if compile else train_step


def make_schedule(config: OptimConfig, total_steps: int) -> optax.Schedule:
    """`recipe.learning_rate` in jnp ops: the rate of optimizer step `count` (0 for the first),
    linear warmup then cosine decay to 0. The cosine part is computed as sin(pi/2 * remaining
    fraction)^2, which keeps float32 exact to a few ulps down to the last steps."""
    peak = config.lr
    warmup = recipe.warmup_steps(total_steps, config.warmup_fraction, config.warmup_steps)
    decay = max(1, total_steps - warmup)

    def schedule(count: jax.Array) -> jax.Array:
        rising = peak * ((count + 1) / max(1, warmup))
        remaining = jnp.clip(decay + warmup - count, 0, decay) / decay
        return jnp.where(count < warmup, rising, peak * jnp.sin(jnp.pi / 2 * remaining) ** 2)

    return schedule


def make_optimizer(
    config: OptimConfig, total_steps: int
) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """AdamW or SGD with Nesterov momentum on the recipe's schedule, the gradients clipped to
    `optim.grad_clip`; weight decay on kernels and embeddings only (ndim >= 2)."""
    schedule = make_schedule(config, total_steps)

    def decay_mask(params: nnx.State) -> nnx.State:
        return jax.tree.map(lambda p: p.ndim >= 2, params)

    if config.name == "adamw":
        b1, b2 = recipe.ADAM_BETAS
        optimizer = optax.adamw(
            schedule,
            b1=b1,
            b2=b2,
            eps=recipe.ADAM_EPSILON,
            weight_decay=config.weight_decay,
            mask=decay_mask,
        )
    else:
        optimizer = optax.chain(
            optax.add_decayed_weights(config.weight_decay, decay_mask),
            optax.sgd(schedule, momentum=recipe.SGD_MOMENTUM, nesterov=True),
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
    """Progress bar, console lines, metrics.jsonl and TensorBoard, from the primary process."""

    def __init__(self, run: Run, config: LogConfig, start: int, total: int) -> None:
        self.run = run
        self.primary = devices.is_primary()
        self.progress = tqdm(total=total, initial=start, disable=not self.primary, unit="step")
        self.writer = None
        if config.tensorboard and self.primary:
            self.writer = SummaryWriter(str(run.tensorboard))

    def say(self, line: str) -> None:
        if self.primary:
            self.progress.write(line)

    def log(self, record: dict[str, float | int | str]) -> None:
        if not self.primary:
            return
        self.run.log_metrics(record)
        step, split = record["step"], record["split"]
        if self.writer:
            for name, value in record.items():
                if name not in ("step", "split", "epoch"):
                    self.writer.add_scalar(f"{split}/{name}", value, step)

    def close(self) -> None:
        self.progress.close()
        if self.writer:
            self.writer.close()


class Throughput:
    """Samples per second since the last report."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.start, self.steps = time.perf_counter(), 0

    def count_step(self) -> None:
        self.steps += 1

    def restart(self) -> None:
        self.start, self.steps = time.perf_counter(), 0

    def report(self) -> float:
        rate = self.steps * self.batch_size / (time.perf_counter() - self.start)
        self.restart()
        return rate


def load_preprocessor(config: Config, run: Run, train: list[Example], resume: bool) -> Preprocessor:
    """Fitted on the training split at a run's first start and saved in the run; every resume
    reuses it."""
    if resume:
        return Preprocessor.load(run.root / PREPROCESSOR_FILE)
    preprocessor = Preprocessor.fit(train, config.data)
{%- if cookiecutter.task == "text" %}
    preprocessor = pretrained.adapt(preprocessor, config.model)
{%- endif %}
    if devices.is_primary():
        preprocessor.save(run.root / PREPROCESSOR_FILE)
    return preprocessor


def count_parameters(model: nnx.Module) -> int:
    return sum(p.size for p in jax.tree.leaves(nnx.state(model, nnx.Param)))


def total_steps_of(config: Config, steps_per_epoch: int) -> int:
    """`trainer.max_steps` optimizer steps, or with -1, `trainer.max_epochs` epochs."""
    if config.trainer.max_steps > 0:
        return config.trainer.max_steps
    return config.trainer.max_epochs * steps_per_epoch


def train(config: Config) -> None:
    """Train as configured; a run that has checkpoints resumes from its latest."""
    devices.initialize_distributed()
    devices.enable_compilation_cache(config.trainer.compilation_cache)
    mesh = devices.create_mesh(config.trainer)
    with jax.set_mesh(mesh):
        _train(config, mesh)


def _train(config: Config, mesh: Mesh) -> None:
    started = time.perf_counter()
    run = Run.of(config)
    run.check_config(config)
    # The data is read before anything is written: bad data leaves no trace.
    train_examples = load_split(config.data, "train")
    val_examples = load_split(config.data, "val") if has_split(config.data, "val") else None
    batch_size = config.data.batch_size
    local_batch_size = devices.local_batch_size(batch_size, mesh)
    steps_per_epoch = len(train_examples) // batch_size
    if not steps_per_epoch:
        raise ConfigError(
            f"data.batch_size={batch_size} is larger than the {len(train_examples)} training"
            " examples"
        )
    total_steps = total_steps_of(config, steps_per_epoch)

    if devices.is_primary():
        run.prepare(config)
    checkpoints = Checkpoints(run.checkpoints, config.trainer.keep_checkpoints)
    step = checkpoints.latest_step or 0
    preprocessor = load_preprocessor(config, run, train_examples, resume=step > 0)
    train_split = Split(train_examples, preprocessor)
    val_split = None if val_examples is None else Split(val_examples, preprocessor)

    tx, schedule = make_optimizer(config.optim, total_steps)
{%- if cookiecutter.task != "tabular" %}
    frozen_steps = config.model.freeze_epochs * steps_per_epoch
    tx = pretrained.split_backbone(tx, config.model, config.optim.backbone_lr_scale, frozen_steps)
{%- endif %}
    dtype = devices.compute_dtype(config.trainer.precision)
    model, optimizer = init_state(config, preprocessor, dtype, tx)
{%- if cookiecutter.task != "tabular" %}
    if not step:
        pretrained.load_weights(model, config.model, run.root if devices.is_primary() else None)
{%- endif %}
    batches = train_batches(
        train_split,
        local_batch_size,
        config.seed,
        config.data.num_workers,
{%- if cookiecutter.task == "image" %}
        config.data.augment,
{%- endif %}
    )
    if step:
        checkpoints.restore(step, model, optimizer, batches)
    with contextlib.closing(Logger(run, config.log, step, total_steps)) as logger:
        if step:
            logger.say(console.resumed(step, run.checkpoints / str(step)))
        if step >= total_steps:
            logger.say(console.nothing_to_do(step, total_steps))
        else:
            hardware = f"{mesh.size} x {mesh.devices.flat[0].platform}"
            logger.say(
                console.start(count_parameters(model), hardware, total_steps, steps_per_epoch)
            )
            if val_split is None:
                logger.say(console.no_validation(config.data.path))
        first_step = step
        tracker = tracking.start(run, config, devices.is_primary())
        train_step = make_train_step(preprocessor.objective, config.trainer.compile)
        sharding = devices.batch_sharding(mesh)
        throughput = Throughput(batch_size)
        losses: list[jax.Array] = []
        guard = preemption.guard(config.trainer)
        while step < total_steps:
            batch = devices.put_batch(next(batches), sharding)
            targets = batch.pop("target")
            losses.append(train_step(model, optimizer, batch, targets))
            step += 1
            throughput.count_step()
            logger.progress.update()
            epoch = step / steps_per_epoch
            save_now = guard.check(step)
            last = step == total_steps or guard.stopping
            if step % config.log.every == 0 or last:
                checkpoints.wait()  # a logged step never runs ahead of an unwritten checkpoint
                loss = float(jnp.mean(jnp.stack(losses)))
                record = {"split": "train", "step": step, "epoch": epoch, "loss": loss}
                lr = float(schedule(step - 1))
                logger.log({**record, "lr": lr, "samples_per_s": throughput.report()})
                logger.progress.set_postfix(loss=f"{loss:.4f}")
                losses = []
            if step % config.trainer.checkpoint_every == 0 or last or save_now:
                checkpoints.save(step, model, optimizer, batches)
            if val_split is not None and (step % steps_per_epoch == 0 or step == total_steps):
                metrics = evaluate(model, val_split, preprocessor, config, mesh)
                logger.log({"split": "val", "step": step, "epoch": epoch, **metrics})
                logger.say(console.validation(epoch, step, metrics))
                throughput.restart()
            if guard.stopping:
                logger.say(console.preempted(step, guard.received, run.checkpoints / str(step)))
                break
        checkpoints.close()
    batches.close()
    if not guard.stopping and devices.is_primary() and first_step < total_steps:
        report.write(run, config)
    tracker.close(finished=not guard.stopping)
    guard.stop(step)
    if devices.is_primary() and first_step < total_steps:
        print(console.summary(run, time.perf_counter() - started, first_step), flush=True)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Train the model; a run that has checkpoints resumes from its latest."
    )
    add_config_arguments(parser)
    config = config_from_args(parser.parse_args(argv))
    try:
        train(config)
    except DiskFull as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    except preemption.Preempted:
        raise SystemExit(preemption.EXIT_PREEMPTED) from None


if __name__ == "__main__":
    main()
