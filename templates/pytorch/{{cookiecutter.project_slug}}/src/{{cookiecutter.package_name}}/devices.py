"""Where training runs: one process per device, the same code for CPU, CUDA and MPS.

The accelerator is whatever `torch.accelerator` finds (CUDA, MPS, ...), else the CPU. Each
device gets its own process: `python -m {{ cookiecutter.package_name }}.train` starts one per
device (`trainer.devices`: `auto` is every visible accelerator) through torchrun (launch.py), or
the launcher starts them itself (multi-node). The model is then wrapped for data parallelism: DDP
(`trainer.strategy=ddp`, a full copy per device) or FSDP2 (`trainer.strategy=fsdp`: parameters,
gradients and optimizer state sharded across devices, for models that do not fit one).
NCCL connects GPUs, gloo CPU processes (`trainer.devices=2` runs two on a CPU).

    python -m {{ cookiecutter.package_name }}.launch --standalone --nproc_per_node=4 \\
        -m {{ cookiecutter.package_name }}.train
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from torch.nn.parallel import DistributedDataParallel

from {{ cookiecutter.package_name }}.config import TrainerConfig
from {{ cookiecutter.package_name }}.errors import UserError

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Environment:
    device: torch.device
    rank: int = 0
    world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def processes_wanted(config: TrainerConfig) -> int:
    """`trainer.devices` as a process count: `auto` is every visible accelerator, else 1."""
    if config.devices != "auto":
        return config.devices
    return torch.accelerator.device_count() if torch.accelerator.is_available() else 1


def launched_by_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ


def setup(config: TrainerConfig) -> Environment:
    """The device of this process; joins the process group when launched by torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if config.devices not in ("auto", world_size):
        raise UserError(
            f"trainer.devices={config.devices}, but torchrun started {world_size} process(es): "
            f"pass --nproc_per_node={config.devices}, or trainer.devices=auto"
        )
    if world_size == 1:
        return single_device()
    accelerator = torch.accelerator.current_accelerator()
    local_rank = int(os.environ["LOCAL_RANK"])
    if accelerator is None:
        device = torch.device("cpu")
    else:
        torch.accelerator.set_device_index(local_rank)
        device = torch.device(accelerator.type, local_rank)
    rank = int(os.environ["RANK"])
    dist.init_process_group(
        dist.get_default_backend_for_device(device),
        store=_restart_store(rank, world_size),
        rank=rank,
        world_size=world_size,
        device_id=device if device.type != "cpu" else None,
    )
    return Environment(device, rank, world_size)


def _restart_store(rank: int, world_size: int) -> dist.Store:
    """torchrun's rendezvous store, under a prefix of this start of the group: the store
    outlives an elastic restart, and without the prefix the restarted processes read the
    addresses of those before them (gloo then connects to a dead worker's port and fails)."""
    store = dist.TCPStore(
        os.environ["MASTER_ADDR"],
        int(os.environ["MASTER_PORT"]),
        world_size,
        is_master=rank == 0 and os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True",
    )
    return dist.PrefixStore(f"restart-{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", store)


def teardown(env: Environment, finished: bool) -> None:
    """Leave the process group; after a normal finish, once every process is done with it."""
    if env.distributed and dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()


def distribute(model: nn.Module, env: Environment, strategy: str) -> nn.Module:
    """Wrap `model` for data-parallel training across the processes (as is on one device)."""
    if not env.distributed:
        return model
    if strategy == "ddp":
        device_ids = None if env.device.type == "cpu" else [env.device.index]
        return DistributedDataParallel(model, device_ids=device_ids)
    mesh = init_device_mesh(env.device.type, (env.world_size,))
    for module in shardable_blocks(model):
        fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def shardable_blocks(model: nn.Module) -> list[nn.Module]:
    """The repeated blocks that FSDP shards (and gathers) one at a time."""
    blocks = getattr(model, "blocks", None)
    return list(blocks) if blocks is not None else []


def unwrap(model: nn.Module) -> nn.Module:
    """The module itself, without DDP or torch.compile around it."""
    model = getattr(model, "_orig_mod", model)
    return model.module if isinstance(model, DistributedDataParallel) else model


def autocast(env: Environment, precision: str) -> contextlib.AbstractContextManager:
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(env.device.type, dtype=AUTOCAST_DTYPES[precision])


def single_device() -> Environment:
    """One process on the accelerator if there is one, else on the CPU."""
    accelerator = torch.accelerator.current_accelerator()
    return Environment(torch.device(accelerator or "cpu"))


def mean_across_processes(value: torch.Tensor, env: Environment) -> float:
    if env.distributed:
        value = value.clone()
        dist.all_reduce(value)  # gloo has no AVG
        value /= env.world_size
    return value.item()
