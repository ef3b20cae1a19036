"""Devices: joining a multi-process job, the device mesh, and placing batches on it.

One process drives every device it sees (all GPUs of a machine, the chips of a TPU host, or
`JAX_NUM_CPU_DEVICES` logical CPU devices). Several machines run one process each; a launcher in
`scripts/` sets `JAX_COORDINATOR_ADDRESS` (and, where JAX cannot detect them, `JAX_NUM_PROCESSES`
and `JAX_PROCESS_ID`), and every process then sees the devices of all of them.

The mesh has two axes: "data" splits each batch across devices, "model" (`trainer.mesh_model`
devices, 1 by default) shards the parameters annotated in `model.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from {{ cookiecutter.package_name }}.config import TrainerConfig
from {{ cookiecutter.package_name }}.errors import ConfigError

DATA, MODEL = "data", "model"
PRECISIONS = {"fp32": jnp.float32, "bf16": jnp.bfloat16}


def initialize_distributed() -> None:
    """Join the multi-process job a launcher started; a single process does nothing."""
    if "JAX_COORDINATOR_ADDRESS" not in os.environ or jax.distributed.is_initialized():
        return
    jax.distributed.initialize(
        num_processes=_env_int("JAX_NUM_PROCESSES"), process_id=_env_int("JAX_PROCESS_ID")
    )


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


def is_primary() -> bool:
    """Whether this process writes files and logs (process 0 of a multi-process job)."""
    return jax.process_index() == 0


def enable_compilation_cache(directory: str | None) -> None:
    """Keep compiled programs on disk, so a restarted run skips most of its compile time."""
    if directory:
        jax.config.update("jax_compilation_cache_dir", str(Path(directory).resolve()))


def compute_dtype(precision: str) -> jnp.dtype:
    if precision not in PRECISIONS:
        raise ConfigError(
            f"trainer.precision={precision} is not supported with JAX (fp16 needs loss "
            "scaling); use bf16, which has float32's range"
        )
    return PRECISIONS[precision]


def create_mesh(config: TrainerConfig) -> Mesh:
    """A ("data", "model") mesh over `trainer.devices` devices."""
    devices = jax.devices()
    if config.devices != "auto":
        if jax.process_count() > 1 and config.devices != len(devices):
            raise ConfigError("trainer.devices must be auto when training with several processes")
        if not 1 <= config.devices <= len(devices):
            raise ConfigError(f"trainer.devices={config.devices}, but {len(devices)} are visible")
        devices = devices[: config.devices]
    if config.mesh_model < 1 or len(devices) % config.mesh_model:
        raise ConfigError(
            f"trainer.mesh_model={config.mesh_model} must divide the {len(devices)} devices"
        )
    shape = (len(devices) // config.mesh_model, config.mesh_model)
    return jax.make_mesh(shape, (DATA, MODEL), (AxisType.Auto, AxisType.Auto), devices=devices)


def shard_as_annotated(*nodes: nnx.Module | nnx.Optimizer) -> None:
    """Constrain every array of `nodes` to its annotated sharding (replicated if none); inside
    `jit`, under the mesh. Keeps a step's outputs sharded exactly like its inputs."""
    state = nnx.state(nodes)
    nnx.update(nodes, jax.lax.with_sharding_constraint(state, nnx.get_partition_spec(state)))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Batches are split along their first dimension over the "data" axis."""
    return NamedSharding(mesh, PartitionSpec(DATA))


def put_batch(batch: dict[str, np.ndarray], sharding: NamedSharding) -> dict[str, jax.Array]:
    """One global batch from each process's share of it."""
    return {
        name: jax.make_array_from_process_local_data(sharding, array)
        for name, array in batch.items()
    }


def local_batch_size(global_batch_size: int, mesh: Mesh) -> int:
    """The examples each process loads per step: its share of `data.batch_size`."""
    data_devices = mesh.shape[DATA]
    if global_batch_size % data_devices:
        raise ConfigError(
            f"data.batch_size={global_batch_size} must be a multiple of the {data_devices} "
            "devices on the mesh's data axis"
        )
    return global_batch_size // jax.process_count()
