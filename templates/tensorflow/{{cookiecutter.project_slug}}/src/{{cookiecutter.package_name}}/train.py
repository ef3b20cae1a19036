"""Train the model.

    python -m {{ cookiecutter.package_name }}.train [--config FILE] [key=value ...]

Writes `runs/<run.name>/`: the resolved `config.yaml`, `preprocessor.json`, `checkpoints/`,
`metrics.jsonl` and TensorBoard events. Started again with the same run name and config, training
resumes from the newest checkpoint and sees the batches (augmentation and dropout included) it
would have seen without the interruption; a changed config is refused (`Run.check_config`).
On a stop signal (`trainer.stop_signals`) it checkpoints the step it is at and exits 75 to be
started again (preemption.py).
Exit status: 0 done, 2 a problem with the config or the data, 75 preempted (run the same command
again to resume), 1 anything else (a full disk).

The loop is written out with `strategy.run` rather than `model.fit`: one loop serves every
strategy (Keras 3's `fit` fails under MultiWorkerMirroredStrategy, keras-team/keras#20585),
stops and resumes at an exact step, and runs `trainer.steps_per_execution` steps per call into
TensorFlow to keep Python out of the hot path.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable, Iterator

import keras
import tensorflow as tf
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
from {{ cookiecutter.package_name }}.checkpoint import Checkpoints, DiskFullError
from {{ cookiecutter.package_name }}.config import Config, add_config_arguments, config_from_args
from {{ cookiecutter.package_name }}.data import (
    PREPROCESSOR_FILE,
    Preprocessor,
    has_split,
    load_split,
    pipeline,
)
from {{ cookiecutter.package_name }}.errors import UserError, exit_on_user_error
from {{ cookiecutter.package_name }}.evaluate import make_predictor, split_metrics
from {{ cookiecutter.package_name }}.model import build_model
from {{ cookiecutter.package_name }}.optim import build_optimizer
from {{ cookiecutter.package_name }}.runs import Run


def train(config: Config) -> Run:
    began = time.perf_counter()
    strategy = devices.select_strategy(config.trainer)
    devices.set_precision(config.trainer.precision)
    keras.utils.set_random_seed(config.seed)
    if config.data.batch_size % strategy.num_replicas_in_sync:
        raise UserError(
            f"data.batch_size={config.data.batch_size} does not split evenly across "
            f"{strategy.num_replicas_in_sync} replicas"
        )
    run, chief = Run.of(config), devices.is_chief(strategy)
    run.check_config(config)
    say = _printer(chief)
    train_examples = load_split(config.data, "train")
    saved = run.root / PREPROCESSOR_FILE
    first_start = not run.started  # a start that failed before a checkpoint starts over
{%- if cookiecutter.task == "text" %}
    preprocessor = (
        pretrained.adapt(Preprocessor.fit(train_examples, config.data), config.model)
        if first_start
        else Preprocessor.load(saved)
    )
{%- else %}
    preprocessor = (
        Preprocessor.fit(train_examples, config.data) if first_start else Preprocessor.load(saved)
    )
{%- endif %}
    if chief:
        run.prepare(config)
        if first_start:
            preprocessor.save(saved)

    steps_per_epoch = max(len(train_examples) // config.data.batch_size, 1)
    total_steps = total_steps_of(config, steps_per_epoch)
    build = functools.partial(build_training_state, config, preprocessor, total_steps)
    with strategy.scope():
        model, optimizer = build()
{%- if cookiecutter.task != "tabular" %}
    frozen_steps = config.model.freeze_epochs * steps_per_epoch
    pretrained.scale_backbone(optimizer, model, config, frozen_steps)
{%- endif %}
    keep = config.trainer.keep_checkpoints
    checkpoints = Checkpoints(run.checkpoints, (model, optimizer), build, keep, writer=chief)
    with strategy.scope():
        resumed_from = checkpoints.restore_latest()
{%- if cookiecutter.task != "tabular" %}
        if not resumed_from:
            pretrained.load_weights(model, config.model, run.root if chief else None)
{%- endif %}
    start = int(optimizer.iterations.numpy())
    if resumed_from:
        say(console.resumed(start, resumed_from))
    if start >= total_steps:
        say(console.nothing_to_do(start, total_steps))
        return run
    parameters = model.count_params()
    say(console.start(parameters, devices.describe(strategy), total_steps, steps_per_epoch))
    if not has_split(config.data, "val"):
        say(console.no_validation(config.data.path))

    batches = strategy.distribute_datasets_from_function(
        lambda context: pipeline.training_dataset(
            train_examples, preprocessor, config, context, start
        )
    )
    train_steps = make_train_steps(model, optimizer, strategy, config, preprocessor.objective)
    validate = _validator(model, strategy, preprocessor, config)
    guard = preemption.guard(config.trainer, strategy)
    loop = Loop(run, config, chief, steps_per_epoch, total_steps, guard)
    tracker = tracking.start(run, config, chief)
{%- if cookiecutter.task == "image" %}
    with pipeline.data_errors():
        step = loop.run(iter(batches), train_steps, checkpoints, validate, start)
{%- else %}
    step = loop.run(iter(batches), train_steps, checkpoints, validate, start)
{%- endif %}
    checkpoints.close()
    if guard.stopping:
        say(console.preempted(step, guard.received, run.checkpoints))
    elif chief:
        report.write(run, config)
    tracker.close(finished=not guard.stopping)
    guard.stop(step)
    say(console.summary(run, time.perf_counter() - began, start))
    return run


def build_training_state(
    config: Config, preprocessor: Preprocessor, total_steps: int
) -> tuple[keras.Model, keras.optimizers.Optimizer]:
    """The model and its optimizer, built: in the strategy's scope for training, outside it for
    the host copy that checkpoints are written from."""
    model = build_model(config.model, preprocessor)
    optimizer = build_optimizer(config.optim, total_steps, config.trainer.precision)
    optimizer.build(model.trainable_variables)
    return model, optimizer


def total_steps_of(config: Config, steps_per_epoch: int) -> int:
    """`trainer.max_steps` when positive, else (-1) `trainer.max_epochs` epochs."""
    if config.trainer.max_steps > 0:
        return config.trainer.max_steps
    return config.trainer.max_epochs * steps_per_epoch


def _printer(chief: bool) -> Callable[[str], None]:
    """Console lines come from the chief alone, above its progress bar."""
    return tqdm.write if chief else lambda line: None


def per_example_loss(objective: str) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    if objective == "classification":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    mse = keras.losses.MeanSquaredError(reduction=None)
    return lambda targets, outputs: mse(tf.reshape(targets, (-1, 1)), outputs)


def make_train_steps(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    strategy: tf.distribute.Strategy,
    config: Config,
    objective: str,
) -> Callable[[Iterator, tf.Tensor], tf.Tensor]:
    """A compiled function running `count` optimizer steps; it returns their mean loss."""
    loss_fn = per_example_loss(objective)

    def gradients(inputs: dict, targets: tf.Tensor) -> tuple[tf.Tensor, list[tf.Tensor]]:
        with tf.GradientTape() as tape:
            outputs = model(inputs, training=True)
            loss = tf.nn.compute_average_loss(
                loss_fn(targets, outputs), global_batch_size=config.data.batch_size
            )
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            scaled = optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, model.trainable_variables)
        # Dense embedding gradients: the global norm of a sparse one (tf.IndexedSlices) adds up
        # the squares of its rows before rows of the same id are summed, so it clips wrongly.
        return loss, [tf.convert_to_tensor(grad) for grad in grads]

    if config.trainer.compile and devices.can_jit_compile(strategy):
        gradients = tf.function(gradients, jit_compile=True)

    def replica_step(batch: tuple[dict, tf.Tensor]) -> tf.Tensor:
        loss, grads = gradients(*batch)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    @tf.function
    def train_steps(iterator: Iterator, count: tf.Tensor) -> tf.Tensor:
        total = tf.constant(0.0)
        for _ in tf.range(count):
            losses = strategy.run(replica_step, args=(next(iterator),))
            total += strategy.reduce("SUM", losses, axis=None)
        return total / tf.cast(count, tf.float32)

    return train_steps


def _validator(
    model: keras.Model, strategy: tf.distribute.Strategy, preprocessor: Preprocessor, config: Config
) -> Callable[[], dict[str, float]] | None:
    if not has_split(config.data, "val"):
        return None
    examples = load_split(config.data, "val")
    dataset = pipeline.evaluation_dataset(examples, preprocessor, config.data)
    predict = make_predictor(model, strategy)
    return lambda: split_metrics(predict, dataset, preprocessor)


class Loop:
    """Steps in chunks that end on every log, checkpoint and epoch boundary."""

    def __init__(
        self,
        run: Run,
        config: Config,
        chief: bool,
        steps_per_epoch: int,
        total_steps: int,
        guard: preemption.Guard,
    ) -> None:
        self.run_dir, self.config, self.chief, self.guard = run, config, chief, guard
        self.steps_per_epoch, self.total_steps = steps_per_epoch, total_steps
        self.writer = (
            tf.summary.create_file_writer(str(run.tensorboard))
            if config.log.tensorboard and chief
            else tf.summary.create_noop_writer()
        )

    def run(
        self,
        batches: Iterator,
        train_steps: Callable[[Iterator, tf.Tensor], tf.Tensor],
        checkpoints: Checkpoints,
        validate: Callable[[], dict[str, float]] | None,
        step: int,
    ) -> int:
        """Train from `step`; returns the step reached (short of the end on a stop signal)."""
        trainer = self.config.trainer
        bar = tqdm(total=self.total_steps, initial=step, unit="step", disable=not self.chief)
        with bar as progress:  # closed on errors too, so that their message starts a line
            loss_sum, steps_since_log, seconds = 0.0, 0, 0.0  # since the last log line
            while step < self.total_steps:
                count = self._chunk(step)
                start = time.perf_counter()
                loss = float(train_steps(batches, tf.constant(count)))
                seconds += time.perf_counter() - start
                step += count
                progress.update(count)
                save_now = self.guard.check(step)
                loss_sum, steps_since_log = loss_sum + loss * count, steps_since_log + count
                last = step == self.total_steps or self.guard.stopping
                if step % self.config.log.every == 0 or last:
                    checkpoints.wait()  # a logged step is never ahead of an unwritten checkpoint
                    record = {
                        "loss": loss_sum / steps_since_log,
                        "lr": self._learning_rate(step - 1),
                        "samples_per_s": steps_since_log * self.config.data.batch_size / seconds,
                    }
                    progress.set_postfix(loss=f"{record['loss']:.4f}")
                    self._log("train", step, record)
                    loss_sum, steps_since_log, seconds = 0.0, 0, 0.0
                if step % trainer.checkpoint_every == 0 or last or save_now:
                    checkpoints.save(step)
                if validate and (step % self.steps_per_epoch == 0 or step == self.total_steps):
                    metrics, epoch = validate(), step / self.steps_per_epoch
                    if self.chief:
                        progress.write(console.validation(epoch, step, metrics))
                    self._log("val", step, metrics)
                if self.guard.stopping:
                    break
        return step

    def _chunk(self, step: int) -> int:
        """Steps to the next event, at most trainer.steps_per_execution."""
        trainer = self.config.trainer
        periods = [self.config.log.every, trainer.checkpoint_every, self.steps_per_epoch]
        if self.guard.check_every:  # the workers compare notes at these steps
            periods.append(self.guard.check_every)
        to_event = min(period - step % period for period in periods)
        return min(trainer.steps_per_execution, to_event, self.total_steps - step)

    def _learning_rate(self, step: int) -> float:
        optim = self.config.optim
        warmup = recipe.warmup_steps(self.total_steps, optim.warmup_fraction, optim.warmup_steps)
        return recipe.learning_rate(step, optim.lr, warmup, self.total_steps)

    def _log(self, split: str, step: int, values: dict[str, float]) -> None:
        if not self.chief:
            return
        epoch = step / self.steps_per_epoch
        self.run_dir.log_metrics({"split": split, "step": step, "epoch": epoch, **values})
        with self.writer.as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(f"{split}/{name}", value)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the model.")
    add_config_arguments(parser)
    config = config_from_args(parser.parse_args(argv))
    try:
        train(config)
    except DiskFullError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    except preemption.Preempted:
        raise SystemExit(preemption.EXIT_PREEMPTED) from None


if __name__ == "__main__":
    main()
