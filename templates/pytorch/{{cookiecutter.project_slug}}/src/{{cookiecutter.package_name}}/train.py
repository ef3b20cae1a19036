"""Train the model.

    python -m {{ cookiecutter.package_name }}.train [--config FILE] [key=value ...]
    python -m {{ cookiecutter.package_name }}.launch --standalone --nproc_per_node=4 \\
        -m {{ cookiecutter.package_name }}.train

Writes `runs/<run.name>/`: the resolved config, the fitted preprocessing, checkpoints,
metrics.jsonl and TensorBoard events. Started again with the same run name and config, training
resumes from the latest checkpoint and sees the batches (augmentation included) it would have
seen without the interruption; a changed config is refused (`Run.check_config`).
On a stop signal (`trainer.stop_signals`) it checkpoints the step it is at and exits 75 to be
started again (preemption.py).
Exit status: 0 done, 2 a problem with the config or the data, 75 preempted (run the same command
again to resume), 1 anything else (a full disk).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from {{ cookiecutter.package_name }} import (
    checkpoint,
    console,
    devices,
    launch,
    preemption,
{%- if cookiecutter.task != "tabular" %}
    pretrained,
{%- endif %}
    recipe,
    report,
    tracking,
)
from {{ cookiecutter.package_name }}.checkpoint import TrainingState
from {{ cookiecutter.package_name }}.config import (
    Config,
    OptimConfig,
    add_config_arguments,
    config_from_args,
    to_dict,
)
from {{ cookiecutter.package_name }}.data import (
    PREPROCESSOR_FILE,
    Preprocessor,
    has_split,
    load_split,
)
from {{ cookiecutter.package_name }}.data.pipeline import (
    eval_loader,
    make_dataset,
    to_device,
    train_loader,
)
from {{ cookiecutter.package_name }}.devices import Environment
from {{ cookiecutter.package_name }}.errors import UserError, exit_on_user_error
from {{ cookiecutter.package_name }}.evaluate import evaluate
from {{ cookiecutter.package_name }}.model import build_model
from {{ cookiecutter.package_name }}.runs import Run

LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def train(config: Config, env: Environment) -> None:
    started = time.perf_counter()
    run = Run.of(config)
    run.check_config(config)
    if env.is_main:
        run.prepare(config)
        checkpoint.remove_partial(run.checkpoints)
    resume_from = checkpoint.latest(run.checkpoints)
    seed_everything(config.seed)  # the same initial weights in every process
    preprocessor = fit_preprocessor(config, run, env, resume=resume_from is not None)
    loader, val_loader = make_loaders(config, preprocessor, env)
    steps_per_epoch = len(loader)
    max_steps = config.trainer.max_steps
    total_steps = max_steps if max_steps > 0 else config.trainer.max_epochs * steps_per_epoch

    model = build_model(config.model, preprocessor)
{%- if cookiecutter.task != "tabular" %}
    if resume_from is None:
        pretrained.load_weights(model, config.model, run.root if env.is_main else None)
    frozen_steps = config.model.freeze_epochs * steps_per_epoch
{%- endif %}
    model = devices.distribute(model.to(env.device), env, config.trainer.strategy)
    state = TrainingState(
        model=model,
{%- if cookiecutter.task != "tabular" %}
        optimizer=make_optimizer(model, config.optim, frozen_steps),
{%- else %}
        optimizer=make_optimizer(model, config.optim),
{%- endif %}
        scaler=torch.amp.GradScaler(env.device.type, enabled=config.trainer.precision == "fp16"),
    )
    schedule = make_schedule(config.optim, total_steps)
    train_step = TrainStep(
        state,
        forward=torch.compile(model) if config.trainer.compile else model,
        loss_function=make_loss_function(preprocessor.objective),
        schedule=schedule,
        grad_clip=config.optim.grad_clip,
        precision=config.trainer.precision,
        env=env,
    )
    seed_everything(config.seed + env.rank)  # distinct dropout per process
    step = 0
    if resume_from is not None:
        step = checkpoint.restore(resume_from, state, env)
        log_main(env, console.resumed(step, resume_from))
    if step >= total_steps:
        log_main(env, console.nothing_to_do(step, total_steps))
        return

    first_step = step
    checkpoints = checkpoint.Checkpoints(run.checkpoints, config.trainer.keep_checkpoints, env)
    logger = Logger(run, env, config.log.tensorboard)
    tracker = tracking.start(run, config, env.is_main)
    meter = Meter(env, config.data.batch_size)
    where = f"{env.world_size} x {env.device.type}"
    log_main(env, console.start(count_parameters(model), where, total_steps, steps_per_epoch))
    if val_loader is None:
        log_main(env, console.no_validation(config.data.path))
    guard = preemption.guard(config.trainer)
    with tqdm(total=total_steps, initial=step, disable=not env.is_main, unit="step") as progress:
        epoch, batches_done = divmod(step, steps_per_epoch)
        while step < total_steps:
            loader.sampler.start(epoch, batches_done)
            model.train()
            for batch in loader:
                inputs, targets = to_device(batch, env)
                meter.add(train_step(step, inputs, targets))
                step += 1
                progress.update()
                save_now = guard.check(step)
                last = step == total_steps or guard.stopping
                if step % config.log.every == 0 or last:
                    checkpoints.wait()  # a logged step is never ahead of an unwritten checkpoint
                    loss = log_training(logger, meter, step, steps_per_epoch, schedule(step - 1))
                    progress.set_postfix(loss=f"{loss:.4f}")
                if step % config.trainer.checkpoint_every == 0 or last or save_now:
                    checkpoints.save(step, state, to_dict(config))
                if last:
                    break
            if guard.stopping and step % steps_per_epoch:
                break
            if val_loader is not None:
                metrics = evaluate(model, val_loader, preprocessor, env, config.trainer.precision)
                logger.log("val", step, {"epoch": step / steps_per_epoch, **metrics})
                log_main(env, console.validation(step / steps_per_epoch, step, metrics))
            epoch, batches_done = epoch + 1, 0
            if guard.stopping:
                break
    checkpoints.close()
    logger.close()
    if guard.stopping:
        log_main(env, console.preempted(step, guard.received, run.checkpoints))
    elif env.is_main:
        report.write(run, config)
    tracker.close(finished=not guard.stopping)
    guard.stop(step)
    if env.is_main:
        log_main(env, console.summary(run, time.perf_counter() - started, first_step))


def log_training(logger: Logger, meter: Meter, step: int, steps_per_epoch: int, lr: float) -> float:
    """Log the mean loss since the last line, the rate of the last step and the throughput."""
    loss, samples_per_s = meter.read()
    metrics = {"epoch": step / steps_per_epoch, "loss": loss, "lr": lr}
    logger.log("train", step, {**metrics, "samples_per_s": samples_per_s})
    return loss


@dataclass
class TrainStep:
    """Optimizer step `step` (0 for the first) on a batch: forward, backward, gradient clipping,
    update at the schedule's learning rate."""

    state: TrainingState
    forward: Callable[..., torch.Tensor]  # the model, or its compiled form
    loss_function: LossFunction
    schedule: Callable[[int], float]
    grad_clip: float
    precision: str
    env: Environment

    def __call__(
        self, step: int, inputs: dict[str, torch.Tensor], targets: torch.Tensor
    ) -> torch.Tensor:
        """Returns the batch's loss, computed before the update."""
        optimizer, scaler = self.state.optimizer, self.state.scaler
        for group in optimizer.param_groups:
{%- if cookiecutter.task != "tabular" %}
            group["lr"] = self.schedule(step) * pretrained.lr_scale(group, step)
{%- else %}
            group["lr"] = self.schedule(step)
{%- endif %}
        with batch_norm_statistics(self.state.model, step):
            with devices.autocast(self.env, self.precision):
                loss = self.loss_function(self.forward(**inputs), targets)
            scaler.scale(loss).backward()
        if self.grad_clip > 0:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(self.state.model.parameters(), self.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()


@contextlib.contextmanager
def batch_norm_statistics(model: nn.Module, step: int) -> Iterator[None]:
    """Around a training forward and backward pass: give the batch the weight
    `recipe.batch_norm_momentum(step)` in the running statistics of batch norm layers, which move
    by their fixed `momentum` (changing it instead would recompile a compiled model)."""
    weight = recipe.batch_norm_momentum(step)
{%- if cookiecutter.task != "tabular" %}
    modules = pretrained.from_scratch(model)  # a pretrained backbone keeps its statistics' momentum
{%- else %}
    modules = model.modules()
{%- endif %}
    layers = [m for m in modules if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if weight == recipe.BATCH_NORM_MOMENTUM or not layers:
        yield
        return
    before = [(m, m.running_mean.clone(), m.running_var.clone()) for m in layers]
    yield
    with torch.no_grad():
        for layer, mean, var in before:  # the layer moved by `momentum`, rescale the move
            scale = weight / layer.momentum
            layer.running_mean.copy_(mean + (layer.running_mean - mean) * scale)
            layer.running_var.copy_(var + (layer.running_var - var) * scale)


def fit_preprocessor(config: Config, run: Run, env: Environment, resume: bool) -> Preprocessor:
    """Fitted on the training split; a resumed run keeps the preprocessing it started with."""
    if resume:
        return Preprocessor.load(run.root / PREPROCESSOR_FILE)
    preprocessor = Preprocessor.fit(load_split(config.data, "train"), config.data)
{%- if cookiecutter.task == "text" %}
    preprocessor = pretrained.adapt(preprocessor, config.model)
{%- endif %}
    if env.is_main:
        preprocessor.save(run.root / PREPROCESSOR_FILE)
    return preprocessor


def make_loaders(
    config: Config, preprocessor: Preprocessor, env: Environment
) -> tuple[DataLoader, DataLoader | None]:
    """Training batches, and validation batches when the data has a val split."""
    if config.data.batch_size % env.world_size:
        raise UserError(
            f"data.batch_size={config.data.batch_size} is the global batch: it must be divisible"
            f" by the number of processes ({env.world_size})"
        )
    batch_size, workers = config.data.batch_size // env.world_size, config.data.num_workers
{%- if cookiecutter.task == "image" %}
    augment_seed = config.seed if config.data.augment else None
    train_data = make_dataset(load_split(config.data, "train"), preprocessor, augment_seed)
{%- else %}
    train_data = make_dataset(load_split(config.data, "train"), preprocessor)
{%- endif %}
    loader = train_loader(train_data, env, batch_size, workers, config.seed)
    if len(loader) == 0:
        raise UserError(
            f"{config.data.path}: the train split has {len(train_data)} examples, fewer than one"
            f" batch per process ({batch_size}); lower data.batch_size"
        )
    if not has_split(config.data, "val"):
        return loader, None
    val_data = make_dataset(load_split(config.data, "val"), preprocessor)
    return loader, eval_loader(val_data, env, batch_size, workers)
{%- if cookiecutter.task != "tabular" %}


def make_optimizer(
    model: nn.Module, config: OptimConfig, frozen_steps: int = 0
) -> torch.optim.Optimizer:
    """Decoupled weight decay on weight matrices, kernels and embeddings only (not on biases
    and norm scales); a pretrained backbone learns slower, and not at all for `frozen_steps`."""
{%- else %}


def make_optimizer(model: nn.Module, config: OptimConfig) -> torch.optim.Optimizer:
    """Decoupled weight decay on weight matrices, kernels and embeddings only (not on biases
    and norm scales)."""
{%- endif %}
    parameters = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in parameters if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in parameters if p.dim() < 2], "weight_decay": 0.0},
    ]
{%- if cookiecutter.task != "tabular" %}
    groups = pretrained.split_backbone(groups, model, config.backbone_lr_scale, frozen_steps)
{%- endif %}
    if config.name == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=recipe.SGD_MOMENTUM, nesterov=True)
    return torch.optim.AdamW(groups, lr=config.lr, betas=recipe.ADAM_BETAS, eps=recipe.ADAM_EPSILON)


def make_schedule(config: OptimConfig, total_steps: int) -> Callable[[int], float]:
    """The learning rate of each optimizer step (0 for the first): linear warmup over a fraction
    of the run (`optim.warmup_fraction`, at most `optim.warmup_steps`), then cosine decay to 0."""
    warmup = recipe.warmup_steps(total_steps, config.warmup_fraction, config.warmup_steps)
    return functools.partial(
        recipe.learning_rate, peak=config.lr, warmup=warmup, total_steps=total_steps
    )


def make_loss_function(objective: str) -> LossFunction:
    if objective == "classification":
        return F.cross_entropy
    return lambda outputs, targets: F.mse_loss(outputs.squeeze(-1), targets)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in devices.unwrap(model).parameters())


def log_main(env: Environment, message: str) -> None:
    if env.is_main:
        tqdm.write(message)


class Meter:
    """Mean training loss (over all processes) and throughput since the last read.

    The loss is summed on the device and read only every `log.every` steps, so logging does not
    stall the accelerator each step."""

    def __init__(self, env: Environment, global_batch_size: int) -> None:
        self.env = env
        self.global_batch_size = global_batch_size
        self.loss_sum = torch.zeros((), device=env.device)
        self.steps = 0
        self.start = time.perf_counter()

    def add(self, loss: torch.Tensor) -> None:
        self.loss_sum += loss.float()
        self.steps += 1

    def read(self) -> tuple[float, float]:
        """The mean loss and the samples per second."""
        loss = devices.mean_across_processes(self.loss_sum / self.steps, self.env)
        samples_per_s = self.steps * self.global_batch_size / (time.perf_counter() - self.start)
        self.loss_sum.zero_()
        self.steps, self.start = 0, time.perf_counter()
        return loss, samples_per_s


class Logger:
    """metrics.jsonl and TensorBoard scalars, written by the main process."""

    def __init__(self, run: Run, env: Environment, tensorboard: bool) -> None:
        self.run = run if env.is_main else None
        self.writer = SummaryWriter(run.tensorboard) if tensorboard and env.is_main else None

    def log(self, split: str, step: int, metrics: dict[str, float]) -> None:
        if self.run is None:
            return
        self.run.log_metrics({"split": split, "step": step, **metrics})
        if self.writer is not None:
            for name, value in metrics.items():
                if name != "epoch":
                    self.writer.add_scalar(f"{split}/{name}", value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the model.")
    add_config_arguments(parser)
    config = config_from_args(parser.parse_args(argv))
    processes = devices.processes_wanted(config.trainer)
    if processes > 1 and not devices.launched_by_torchrun():  # one process per device
        module = "{{ cookiecutter.package_name }}.train"
        torchrun = ["--standalone", f"--nproc_per_node={processes}", "-m", module]
        raise SystemExit(launch.run([*torchrun, *(sys.argv[1:] if argv is None else argv)]))
    env = devices.setup(config.trainer)
    finished = False
    try:
        train(config, env)
        finished = True
    except checkpoint.DiskFull as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    except preemption.Preempted:
        raise SystemExit(launch.preempted_status()) from None
    finally:
        devices.teardown(env, finished)


if __name__ == "__main__":
    main()
