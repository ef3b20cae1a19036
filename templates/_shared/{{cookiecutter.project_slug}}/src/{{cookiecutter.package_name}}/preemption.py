"""Stopping cleanly when the cluster says so, and checkpoints by the clock.

Schedulers announce a preemption with a signal and kill the job a grace period later:
Kubernetes and spot VMs send SIGTERM, SLURM sends what `sbatch --signal` names (SIGUSR1 in
scripts/slurm.sbatch). On one of `trainer.stop_signals`, training finishes the step it is in,
writes a checkpoint at that step, flushes its metrics and exits with status 75
(`EXIT_PREEMPTED`, EX_TEMPFAIL: "preempted, run me again"). Started again with the same command,
the run resumes at that step, the data stream at the same position: no step is computed twice.

A signal may reach only some processes of a multi-process run. They compare notes every
`trainer.stop_check_every` steps, in one tiny collective (torch.distributed all-reduce, a
cross-worker reduce of the strategy, or JAX's multihost all-gather), so every process stops after
the same step and their checkpoint is one consistent state. A single process checks after every
step, at no cost.
{%- if cookiecutter._framework == "jax" %} Under `jax.distributed`, SIGTERM is JAX's own: its coordination service
notices it in any process and `multihost_utils.reached_preemption_sync_point` names the same
step to every process, at the cost of a local check per step.
{%- endif %}

`trainer.checkpoint_every_minutes` bounds what a kill without warning (a spot VM that gives no
signal, an out-of-memory kill) loses: a checkpoint is written at the first check that many
minutes after the last one, decided at the same step in every process.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from types import FrameType
{%- if cookiecutter._framework == "pytorch" %}

import torch
import torch.distributed as dist
{%- elif cookiecutter._framework == "tensorflow" %}

import tensorflow as tf
{%- elif cookiecutter._framework == "jax" %}

import jax
import numpy as np
from jax.experimental import multihost_utils
{%- endif %}

from {{ cookiecutter.package_name }}.config import TrainerConfig

EXIT_PREEMPTED = 75  # EX_TEMPFAIL from sysexits.h: a temporary failure, try again

# Each process's flags in, for each flag whether any process has it set out.
Agreement = Callable[[list[bool]], list[bool]]
# Whether to stop after this step, by the framework's own preemption notice.
SyncPoint = Callable[[int], bool]
SYNC_SIGNAL = "SIGTERM"


class Preempted(Exception):
    """Training stopped on a stop signal after `step`, its checkpoint written."""

    def __init__(self, step: int, signal_name: str) -> None:
        super().__init__(f"stopped by {signal_name} after step {step}")
        self.step = step
        self.signal_name = signal_name


class Guard:
    """Records the stop signals; `check(step)`, called after every optimizer step, says whether
    to write a checkpoint now, and sets `stopping` when training must stop after this step;
    `stop(step)` ends the watch."""

    def __init__(
        self,
        config: TrainerConfig,
        agree: Agreement | None,
        sync_point: SyncPoint | None = None,
    ) -> None:
        """`sync_point(step)`: the framework's own preemption notice for `SYNC_SIGNAL`, the same
        answer in every process; the other signals are recorded here."""
        # Steps between the processes' checks; None: a single process, checking every step.
        self.check_every = config.stop_check_every if agree is not None else None
        self.received: str | None = None
        self.stopping = False
        self._agree = agree
        self._sync_point = sync_point
        self._period = config.checkpoint_every_minutes * 60
        self._last_save = time.monotonic()
        names = [n for n in config.stop_signals if sync_point is None or n != SYNC_SIGNAL]
        self._previous = {
            number: signal.signal(number, self._record)
            for number in (signal.Signals[name] for name in names)
        }

    def _record(self, number: int, frame: FrameType | None) -> None:
        self.received = self.received or signal.Signals(number).name

    def check(self, step: int) -> bool:
        """Whether to write a checkpoint after `step`: a stop signal reached some process, or
        `trainer.checkpoint_every_minutes` have passed. The same answer in every process."""
        if self._sync_point is not None and self._sync_point(step):
            self.stopping, self.received = True, self.received or SYNC_SIGNAL
            return True
        if self.check_every and step % self.check_every:
            return False
        flags = [self.received is not None, self._clock_due()]
        if self._agree is not None:
            flags = self._agree(flags)
        signalled, due = flags
        self.stopping = signalled
        if signalled and self.received is None:
            self.received = "a stop signal to another process"
        if signalled or due:
            self._last_save = time.monotonic()
        return signalled or due

    def _clock_due(self) -> bool:
        return self._period > 0 and time.monotonic() - self._last_save >= self._period

    def stop(self, step: int) -> None:
        """After the loop closed its files: raise `Preempted` if training stopped on a signal,
        still recording them (one may come late to a process that stopped because another was
        signalled: it must not kill it before its exit); else give them back their handlers."""
        if self.stopping:
            raise Preempted(step, self.received or "a stop signal")
        for number, handler in self._previous.items():
            signal.signal(number, handler)
{%- if cookiecutter._framework == "pytorch" %}


def guard(config: TrainerConfig) -> Guard:
    """Watch for stop signals; processes of a torchrun job agree through the process group."""
    return Guard(config, _all_reduce_max if dist.is_initialized() else None)


def _all_reduce_max(flags: list[bool]) -> list[bool]:
    device = "cpu" if dist.get_backend() == "gloo" else torch.accelerator.current_accelerator()
    values = torch.tensor([float(flag) for flag in flags], device=device)
    dist.all_reduce(values, op=dist.ReduceOp.MAX)
    return [bool(value) for value in values.tolist()]
{%- elif cookiecutter._framework == "tensorflow" %}


def guard(config: TrainerConfig, strategy: tf.distribute.Strategy) -> Guard:
    """Watch for stop signals; the workers of a MultiWorkerMirroredStrategy agree through it."""
    resolver = getattr(strategy, "cluster_resolver", None)
    several = resolver is not None and len(resolver.cluster_spec().as_dict().get("worker", [])) > 1
    return Guard(config, _reduce_across(strategy) if several else None)


def _reduce_across(strategy: tf.distribute.Strategy) -> Agreement:
    @tf.function
    def any_set(flags: tf.Tensor) -> tf.Tensor:
        return strategy.reduce("SUM", strategy.run(lambda: tf.identity(flags)), axis=None)

    def agree(flags: list[bool]) -> list[bool]:
        totals = any_set(tf.constant([float(flag) for flag in flags]))
        return [bool(total > 0) for total in totals.numpy()]

    return agree
{%- elif cookiecutter._framework == "jax" %}


def guard(config: TrainerConfig) -> Guard:
    """Watch for stop signals; the processes of a `jax.distributed` job stop at JAX's preemption
    sync point on SIGTERM, and agree on the other signals and the clock by all-gather."""
    if jax.process_count() == 1:
        return Guard(config, None)
    sync_point = None
    if SYNC_SIGNAL in config.stop_signals:
        sync_point = multihost_utils.reached_preemption_sync_point
    return Guard(config, _gather_any, sync_point)


def _gather_any(flags: list[bool]) -> list[bool]:
    gathered = multihost_utils.process_allgather(np.asarray(flags, dtype=np.int32))
    return [bool(flag) for flag in np.asarray(gathered).reshape(-1, len(flags)).max(axis=0)]
{%- endif %}
