"""Train the model.

    python -m {{ cookiecutter.package_name }}.train [--config FILE] [key=value ...]
    torchrun --standalone --nproc_per_node=4 -m {{ cookiecutter.package_name }}.train [...]

Writes `runs/<run.name>/`: the resolved config, the fitted preprocessing, checkpoints,
metrics.jsonl and TensorBoard events. Started again with the same run name, training resumes
from the latest checkpoint and sees the batches it would have seen without the interruption.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from {{ cookiecutter.package_name }} import checkpoint, devices
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


def train(config: Config, env: Environment) -> None:
    run = Run.of(config)
    resume_from = checkpoint.latest(run.checkpoints)
    seed_everything(config.seed)  # the same initial weights in every process
    preprocessor = fit_preprocessor(config, run, env, resume=resume_from is not None)
    loader, val_loader = make_loaders(config, preprocessor, env)
    steps_per_epoch = len(loader)
    max_steps = config.trainer.max_steps
    total_steps = max_steps if max_steps > 0 else config.trainer.max_epochs * steps_per_epoch

    model = build_model(config.model, preprocessor).to(env.device)
    model = devices.distribute(model, env, config.trainer.strategy)
    forward = torch.compile(model) if config.trainer.compile else model
    optimizer = make_optimizer(model, config.optim)
    state = TrainingState(
        model=model,
        optimizer=optimizer,
        scheduler=warmup_cosine_schedule(optimizer, config.optim.warmup_steps, total_steps),
        scaler=torch.amp.GradScaler(env.device.type, enabled=config.trainer.precision == "fp16"),
    )
    seed_everything(config.seed + env.rank)  # distinct dropout and augmentation per process
    step = 0
    if resume_from is not None:
        step = checkpoint.restore(resume_from, state, env)
        log_main(env, f"Resumed from step {step} ({resume_from})")
    if step >= total_steps:
        log_main(env, f"Nothing to do: the run is at step {step} of {total_steps}")
        return

    loss_function = make_loss_function(preprocessor.objective)
    logger = Logger(run, env, config.log.tensorboard)
    meter = Meter(env, config.data.batch_size)
    progress = tqdm(total=total_steps, initial=step, disable=not env.is_main, unit="step")
    log_main(
        env,
        f"Training {count_parameters(model):,} parameters on {env.world_size} x {env.device}, "
        f"{total_steps} steps ({steps_per_epoch} per epoch)",
    )
    epoch, batches_done = divmod(step, steps_per_epoch)
    while step < total_steps:
        loader.sampler.start(epoch, batches_done)
        model.train()
        for batch in loader:
            inputs, targets = to_device(batch, env)
            with devices.autocast(env, config.trainer.precision):
                loss = loss_function(forward(**inputs), targets)
            state.scaler.scale(loss).backward()
            if config.optim.grad_clip > 0:
                state.scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
            state.scaler.step(optimizer)
            state.scaler.update()
            optimizer.zero_grad(set_to_none=True)
            state.scheduler.step()
            step += 1
            meter.add(loss.detach())
            progress.update()

            last = step == total_steps
            if step % config.log.every == 0 or last:
                metrics = {**meter.read(), "lr": state.scheduler.get_last_lr()[0]}
                logger.log("train", step, metrics)
                progress.set_postfix(loss=f"{metrics['loss']:.4f}")
            if step % config.trainer.checkpoint_every == 0 or last:
                keep = config.trainer.keep_checkpoints
                checkpoint.save(run.checkpoints, step, state, to_dict(config), env, keep)
            if last:
                break
        if val_loader is not None:
            metrics = evaluate(model, val_loader, preprocessor, env, config.trainer.precision)
            logger.log("val", step, {"epoch": step / steps_per_epoch, **metrics})
        epoch, batches_done = epoch + 1, 0
    progress.close()
    logger.close()
    log_main(env, f"Done: {run.root}")


def fit_preprocessor(config: Config, run: Run, env: Environment, resume: bool) -> Preprocessor:
    """Fitted on the training split; a resumed run keeps the preprocessing it started with."""
    if env.is_main:
        run.prepare(config)
    if resume:
        return Preprocessor.load(run.root / PREPROCESSOR_FILE)
    preprocessor = Preprocessor.fit(load_split(config.data, "train"), config.data)
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
    train_examples = load_split(config.data, "train")
    train_data = make_dataset(train_examples, preprocessor, augment=config.data.augment)
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


def make_optimizer(model: nn.Module, config: OptimConfig) -> torch.optim.Optimizer:
    """Weight decay on weight matrices and kernels only, not on biases and norm scales."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in parameters if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in parameters if p.dim() < 2], "weight_decay": 0.0},
    ]
    if config.name == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=config.lr)


def warmup_cosine_schedule(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup to `optim.lr` over `warmup_steps`, then cosine decay to 0."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def make_loss_function(objective: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
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

    def read(self) -> dict[str, float]:
        loss = devices.mean_across_processes(self.loss_sum / self.steps, self.env)
        elapsed = time.perf_counter() - self.start
        metrics = {"loss": loss, "samples_per_s": self.steps * self.global_batch_size / elapsed}
        self.loss_sum.zero_()
        self.steps, self.start = 0, time.perf_counter()
        return metrics


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
    if processes > 1 and not devices.launched_by_torchrun():
        devices.launch(processes, sys.argv[1:] if argv is None else argv)
        return
    env = devices.setup(config.trainer)
    finished = False
    try:
        train(config, env)
        finished = True
    finally:
        devices.teardown(env, finished)


if __name__ == "__main__":
    main()
