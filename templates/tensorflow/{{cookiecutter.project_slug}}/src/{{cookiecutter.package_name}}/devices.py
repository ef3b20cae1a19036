"""The `tf.distribute` strategy for this machine, and precision policies.

{%- if cookiecutter.hardware == "tpu" %}
- a TPU (TPU VM or `TPU_NAME`): `TPUStrategy` over every core;
{%- endif %}
{%- if cookiecutter.hardware == "cluster" %}
- several workers (`TF_CONFIG` set, or a SLURM job of several tasks):
  `MultiWorkerMirroredStrategy`, one process per node driving that node's GPUs;
{%- endif %}
- several GPUs: `MirroredStrategy` over `trainer.devices` of them (all with `auto`);
- one GPU, or the CPU: `OneDeviceStrategy`;
- `trainer.devices=N` on a machine without GPUs splits the CPU into N logical devices under
  `MirroredStrategy`: multi-device training you can run and test anywhere.

`data.batch_size` is the global batch, split evenly across replicas.
"""

from __future__ import annotations
{%- if cookiecutter.hardware == "cluster" %}

import os
{%- endif %}

import keras
import tensorflow as tf

from {{ cookiecutter.package_name }}.config import TrainerConfig
from {{ cookiecutter.package_name }}.errors import UserError

POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


def select_strategy(config: TrainerConfig) -> tf.distribute.Strategy:
    """Call before any other TensorFlow op: logical devices can only be set up first."""
{%- if cookiecutter.hardware == "tpu" %}
    if tpu := _tpu_resolver():
        tf.config.experimental_connect_to_cluster(tpu)
        tf.tpu.experimental.initialize_tpu_system(tpu)
        return tf.distribute.TPUStrategy(tpu)
{%- endif %}
{%- if cookiecutter.hardware == "cluster" %}
    if cluster := _cluster_resolver():
        return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=cluster)
{%- endif %}
    gpus = tf.config.list_physical_devices("GPU")
    wanted = len(gpus) if config.devices == "auto" else config.devices
    if gpus:
        if wanted > len(gpus):
            raise UserError(f"trainer.devices={wanted} but only {len(gpus)} GPU(s) are visible")
        names = [f"/gpu:{i}" for i in range(max(wanted, 1))]
    else:
        names = _cpu_devices(max(wanted, 1))
    if len(names) == 1:
        return tf.distribute.OneDeviceStrategy(names[0])
    return tf.distribute.MirroredStrategy(names)


def _cpu_devices(count: int) -> list[str]:
    if count > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * count
        )
    return [f"/cpu:{i}" for i in range(count)]
{%- if cookiecutter.hardware == "tpu" %}


def _tpu_resolver() -> tf.distribute.cluster_resolver.TPUClusterResolver | None:
    try:
        return tf.distribute.cluster_resolver.TPUClusterResolver()
    except ValueError:  # no TPU attached and no TPU_NAME: train on GPUs or the CPU
        return None
{%- endif %}
{%- if cookiecutter.hardware == "cluster" %}


def _cluster_resolver() -> tf.distribute.cluster_resolver.ClusterResolver | None:
    if "TF_CONFIG" in os.environ:
        return tf.distribute.cluster_resolver.TFConfigClusterResolver()
    if int(os.environ.get("SLURM_NTASKS", "1")) > 1:
        return tf.distribute.cluster_resolver.SlurmClusterResolver()
    return None
{%- endif %}


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run directory (always, except on non-chief workers)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0
    )


def can_jit_compile(strategy: tf.distribute.Strategy) -> bool:
    """XLA-compiling the step fails under MirroredStrategy over logical CPU devices."""
    return not (strategy.num_replicas_in_sync > 1 and not tf.config.list_physical_devices("GPU"))


def set_precision(precision: str) -> None:
    """The global Keras dtype policy; output layers pin themselves to float32."""
    keras.config.set_dtype_policy(POLICIES[precision])


def describe(strategy: tf.distribute.Strategy) -> str:
    return f"{type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s)"
