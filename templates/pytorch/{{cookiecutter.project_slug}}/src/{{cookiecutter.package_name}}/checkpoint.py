"""Checkpoints: the whole training state in one file per step, written atomically.

`runs/<name>/checkpoints/step_000500.pt` holds the model (unwrapped from DDP, FSDP and
torch.compile: plain `state_dict` keys), the optimizer and gradient scaler, the step (the
learning rate schedule is a function of it), the RNG states of every process and the resolved
config. Only tensors and plain Python values are stored, so files load with
`torch.load(weights_only=True)`. Files are written in the background while training goes on
(`Checkpoints`), to a temporary name renamed when complete, so a crash never leaves a truncated
checkpoint (`remove_partial` clears what an interrupted write left); a full disk removes the
partial file and stops with `DiskFull`. The newest `trainer.keep_checkpoints` are kept.
"""

from __future__ import annotations

import errno
import os
import pickle
import random
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_state_dict,
    set_state_dict,
)

from {{ cookiecutter.package_name }}.devices import Environment
from {{ cookiecutter.package_name }}.errors import UserError

PATTERN = "step_*.pt"
PARTIAL = "*.tmp"


class DiskFull(Exception):
    """No space left to write a checkpoint; the partial file is already removed."""

    def __init__(self, path: Path, last_good: Path | None) -> None:
        last = last_good or "none"
        super().__init__(f"disk full writing checkpoint {path}; the last good checkpoint is {last}")


@dataclass
class TrainingState:
    """What a checkpoint restores; `model` as trained (DDP, FSDP or plain), not compiled."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler


class Checkpoints:
    """The checkpoints of one run, written in the background.

    `save` returns once the state is copied off the accelerator (a copy training does not
    touch); a thread serializes it and writes the file while the next steps run. `wait` blocks
    until that write is complete, and raises its error (`DiskFull`): `save` waits for the
    previous write first, and training calls `close` before it ends or exits preempted.
    """

    def __init__(self, directory: Path, keep: int, env: Environment) -> None:
        self.directory, self.keep, self.env = directory, keep, env
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
        self._writing: Future[None] | None = None

    def save(self, step: int, training: TrainingState, config: dict[str, Any]) -> None:
        """Every process calls this (sharded parameters are gathered); the main process writes."""
        state = gather_state(step, training, config, self.env)
        if not self.env.is_main:
            return
        if self.env.device.type == "cpu":  # offloading returned the live tensors, not copies
            state = _copy(state)
        self.wait()
        self._writing = self._writer.submit(_write, state, self.directory, step, self.keep)

    def wait(self) -> None:
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.result()

    def close(self) -> None:
        self.wait()
        self._writer.shutdown()


def gather_state(
    step: int, training: TrainingState, config: dict[str, Any], env: Environment
) -> dict[str, Any]:
    """The training state as plain tensors in CPU memory, whole in the main process."""
    model_state, optimizer_state = get_state_dict(
        training.model,
        training.optimizer,
        options=StateDictOptions(full_state_dict=True, cpu_offload=True),
    )
    return {
        "step": step,
        "model": model_state,
        "optimizer": optimizer_state,
        "scaler": training.scaler.state_dict(),
        "rng": _gather(rng_state(), env),
        "config": config,
    }


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_copy(item) for item in value)
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    return value


def _write(state: dict[str, Any], directory: Path, step: int, keep: int) -> None:
    """To a temporary name, renamed when complete; then the oldest beyond `keep` are removed."""
    path = directory / f"step_{step:06d}.pt"
    temporary = path.with_suffix(".tmp")
    try:
        with temporary.open("wb") as file:  # through a file object, torch raises the OSError
            torch.save(state, file)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        if error.errno == errno.ENOSPC:
            raise DiskFull(path, latest(directory)) from None
        raise
    os.replace(temporary, path)
    for old in sorted(directory.glob(PATTERN))[:-keep]:
        old.unlink()


def remove_partial(directory: Path) -> None:
    """Remove the temporary files of writes that were interrupted (a crash, a full disk)."""
    for partial in directory.glob(PARTIAL):
        partial.unlink(missing_ok=True)


def restore(path: Path, training: TrainingState, env: Environment) -> int:
    """Load a checkpoint written by `save` into `training`; returns its step."""
    state = load(path)
    set_state_dict(
        training.model,
        training.optimizer,
        model_state_dict=state["model"],
        optim_state_dict=state["optimizer"],
        options=StateDictOptions(full_state_dict=True),
    )
    training.scaler.load_state_dict(state["scaler"])
    if len(state["rng"]) == env.world_size:
        set_rng_state(state["rng"][env.rank])
    return state["step"]


def load(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UserError(
            f"{path}: not loaded: it holds Python objects other than tensors and plain values,"
            " which could run code (this project's checkpoints hold none)"
        ) from None
    except (OSError, RuntimeError, EOFError) as error:
        raise UserError(f"{path}: not a readable checkpoint ({error})") from None


def load_model(path: Path, model: nn.Module) -> dict[str, Any]:
    """Load the weights of a checkpoint into a plain `model`; returns the checkpoint."""
    state = load(path)
    model.load_state_dict(state["model"])
    return state


def latest(directory: Path) -> Path | None:
    checkpoints = sorted(directory.glob(PATTERN))
    return checkpoints[-1] if checkpoints else None


def resolve(path: Path) -> Path:
    """A checkpoint file as given, or the latest checkpoint of a run directory."""
    if path.is_file():
        return path
    found = latest(path / "checkpoints") if path.is_dir() else None
    if found is None:
        raise UserError(f"{path}: no checkpoint (expected a .pt file or a run directory)")
    return found


def rng_state() -> dict[str, Any]:
    _, keys, position, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": position,
            "has_gauss": has_gauss,
            "gauss": gauss,
        },
        "torch": torch.get_rng_state(),
    }
    if torch.accelerator.is_available():
        state["accelerator"] = _accelerator_module().get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    saved = state["numpy"]
    keys = saved["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, saved["position"], saved["has_gauss"], saved["gauss"]))
    torch.set_rng_state(state["torch"])
    if "accelerator" in state and torch.accelerator.is_available():
        _accelerator_module().set_rng_state(state["accelerator"])


def _accelerator_module() -> Any:
    return torch.get_device_module(torch.accelerator.current_accelerator())


def _gather(value: Any, env: Environment) -> list[Any]:
    if not env.distributed:
        return [value]
    values: list[Any] = [None] * env.world_size
    dist.all_gather_object(values, value)
    return values
