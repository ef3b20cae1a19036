"""Hardware smoke test: what to run first on a new machine or cluster node.

    python -m {{ cookiecutter.package_name }}.smoke [--steps N] [key=value ...]     (make smoke)

One line per check: the framework's build against the machine's driver, the visible devices,
bfloat16, an all-reduce across the local devices, then N mixed-precision (bf16) training steps
of this project's model on freshly written sample data, with the samples/s. It stops at the
first failure with exit status 1. On a machine without an accelerator the same checks run on
the CPU, unless the project was made for GPUs or TPUs: then the missing accelerator fails.
"""

from __future__ import annotations

import argparse
import contextlib
import io
{%- if cookiecutter._framework == "pytorch" %}
import os
{%- endif %}
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

{%- if cookiecutter._framework == "pytorch" %}

import torch
import torch.distributed as dist
{%- elif cookiecutter._framework == "tensorflow" %}

import tensorflow as tf
{%- elif cookiecutter._framework == "jax" %}

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec
{%- endif %}

from {{ cookiecutter.package_name }} import train
from {{ cookiecutter.package_name }}.config import Config, add_config_arguments, load_config
from {{ cookiecutter.package_name }}.data import write_sample
from {{ cookiecutter.package_name }}.runs import Run
{%- if cookiecutter.hardware in ("gpu", "multi_gpu", "cluster") %}

ACCELERATOR: str | None = "gpu"  # the project's hardware: a missing GPU fails the test
{%- elif cookiecutter.hardware == "tpu" %}

ACCELERATOR: str | None = "tpu"  # the project's hardware: a missing TPU fails the test
{%- else %}

ACCELERATOR: str | None = None  # the project's hardware needs no accelerator
{%- endif %}


class Failed(Exception):
    """A check that failed; the message says what was found."""


def nvidia_driver() -> str:
    """The NVIDIA driver version nvidia-smi reports, or "none"."""
    if shutil.which("nvidia-smi") is None:
        return "none (no nvidia-smi)"
    query = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
    result = subprocess.run(query, capture_output=True, text=True)
    return result.stdout.split("\n")[0].strip() or f"unreadable ({result.stderr.strip()})"


def require(found: bool, what: str) -> None:
    if not found:
        raise Failed(what)
{%- if cookiecutter._framework == "pytorch" %}


def runtime() -> str:
    build = f"torch {torch.__version__}"
    if torch.version.cuda:
        build += f", CUDA {torch.version.cuda} wheel, NVIDIA driver {nvidia_driver()}"
    usable = torch.accelerator.is_available()
    require(
        usable or ACCELERATOR is None,
        f"{build}: no usable accelerator (a CPU-only wheel, or a driver older than its CUDA)",
    )
    return build


def visible_devices() -> str:
    if not torch.accelerator.is_available():
        return f"cpu ({os.cpu_count()} cores)"
    kind = torch.accelerator.current_accelerator().type
    count = torch.accelerator.device_count()
    names = [torch.cuda.get_device_name(i) for i in range(count)] if kind == "cuda" else []
    return f"{count} x {kind} {', '.join(names)}".strip()


def device() -> torch.device:
    return torch.device(torch.accelerator.current_accelerator() or "cpu")


def bf16() -> str:
    if device().type == "cuda":
        supported = torch.cuda.is_bf16_supported()
        require(supported, "this GPU has no bfloat16 (use trainer.precision=fp16)")
    x = torch.randn(256, 256, device=device())
    error = ((x.bfloat16() @ x.bfloat16()).float() - x @ x).abs().max() / (x @ x).abs().max()
    require(error.item() < 0.05, f"a bfloat16 matmul is off by {error.item():.3f}")
    return f"matmul on {device().type} within {error.item():.4f} of float32"


def all_reduce() -> str:
    """A process group of one on this device (NCCL on GPUs, gloo on the CPU), and a reduction
    across every local GPU."""
    backend = dist.get_default_backend_for_device(device())
    dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
    try:
        value = torch.ones(4, device=device())
        dist.all_reduce(value)
        require(value.sum().item() == 4, f"{backend} all-reduce returned {value.tolist()}")
    finally:
        dist.destroy_process_group()
    count = torch.cuda.device_count() if device().type == "cuda" else 1
    if count > 1:
        parts = [torch.ones(4, device=f"cuda:{i}") for i in range(count)]
        total = torch.cuda.comm.reduce_add(parts, destination=0)
        require(torch.all(total == count).item(), f"reduce across {count} GPUs gave {total}")
    return f"{backend}, {count} local device(s)"


def run_training(config: Config) -> None:
    from {{ cookiecutter.package_name }} import devices

    train.train(config, devices.single_device())
{%- elif cookiecutter._framework == "tensorflow" %}


def runtime() -> str:
    info = tf.sysconfig.get_build_info()
    build = f"tensorflow {tf.__version__}"
    if info.get("cuda_version"):
        build += f", CUDA {info['cuda_version']} build, NVIDIA driver {nvidia_driver()}"
    accelerators = tf.config.list_physical_devices("GPU") + tf.config.list_physical_devices("TPU")
    require(
        bool(accelerators) or ACCELERATOR is None,
        f"{build}: no usable accelerator (a CPU-only build, or a driver older than its CUDA)",
    )
    return build


def local_devices() -> list[str]:
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU")
    return [d.name for d in devices or tf.config.list_logical_devices("CPU")]


def visible_devices() -> str:
    names = local_devices()
    return f"{len(names)}: {', '.join(names)}"


def bf16() -> str:
    with tf.device(local_devices()[0]):
        x = tf.random.normal((256, 256))
        exact = x @ x
        rough = tf.cast(tf.cast(x, tf.bfloat16) @ tf.cast(x, tf.bfloat16), tf.float32)
        error = float(tf.reduce_max(tf.abs(rough - exact)) / tf.reduce_max(tf.abs(exact)))
    require(error < 0.05, f"a bfloat16 matmul is off by {error:.3f}")
    return f"matmul on {local_devices()[0]} within {error:.4f} of float32"


def all_reduce() -> str:
    strategy = tf.distribute.MirroredStrategy(local_devices())
    total = strategy.reduce("SUM", strategy.run(lambda: tf.constant(1.0)), axis=None)
    replicas = strategy.num_replicas_in_sync
    require(float(total) == replicas, f"a sum over {replicas} replicas gave {float(total)}")
    return f"MirroredStrategy over {replicas} device(s)"


def run_training(config: Config) -> None:
    train.train(config)
{%- elif cookiecutter._framework == "jax" %}


def runtime() -> str:
    backend = jax.devices()[0].client
    build = f"jax {jax.__version__}, {backend.platform} {backend.platform_version}"
    if backend.platform == "gpu":
        build += f", NVIDIA driver {nvidia_driver()}"
    require(
        backend.platform != "cpu" or ACCELERATOR is None,
        f"{build}: no usable accelerator (a CPU-only jaxlib, or a driver older than its CUDA)",
    )
    return build


def visible_devices() -> str:
    devices = jax.local_devices()
    return f"{len(devices)} x {devices[0].device_kind}"


def bf16() -> str:
    x = jax.random.normal(jax.random.key(0), (256, 256))
    exact = x @ x
    rough = (x.astype(jnp.bfloat16) @ x.astype(jnp.bfloat16)).astype(jnp.float32)
    error = float(jnp.max(jnp.abs(rough - exact)) / jnp.max(jnp.abs(exact)))
    require(error < 0.05, f"a bfloat16 matmul is off by {error:.3f}")
    return f"matmul on {jax.devices()[0].platform} within {error:.4f} of float32"


def all_reduce() -> str:
    mesh = jax.make_mesh((jax.local_device_count(),), ("devices",))
    ones = jax.device_put(jnp.ones(mesh.size), NamedSharding(mesh, PartitionSpec("devices")))
    total = jax.shard_map(
        lambda x: jax.lax.psum(x, "devices"),
        mesh=mesh,
        in_specs=PartitionSpec("devices"),
        out_specs=PartitionSpec(),
    )(ones)
    require(bool(np.all(np.asarray(total) == mesh.size)), f"psum gave {total}")
    return f"psum over {mesh.size} device(s)"


def run_training(config: Config) -> None:
    train.train(config)
{%- endif %}


def training_steps(config_file: Path | None, overrides: list[str], steps: int) -> str:
    """`steps` bf16 steps of the project's model on sample data, in a temporary run."""
    with tempfile.TemporaryDirectory() as tmp:
        write_sample(Path(tmp) / "data")
        config = load_config(
            config_file,
            [
                *overrides,
                f"data.path={Path(tmp) / 'data'}",
                f"run.dir={tmp}",
                "run.name=smoke",
                f"trainer.max_steps={steps}",
                f"log.every={steps}",
                f"trainer.checkpoint_every={steps}",
                "trainer.precision=bf16",
                "log.tensorboard=false",
            ],
        )
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            run_training(config)
        records = [r for r in Run(Path(tmp) / "smoke").read_metrics() if r["split"] == "train"]
    require(bool(records), "training wrote no metrics")
    step, loss, rate = (records[-1][key] for key in ("step", "loss", "samples_per_s"))
    return f"{step} bf16 steps, loss {loss:.4f}, {rate:,.1f} samples/s"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Check this machine's accelerators and training.")
    parser.add_argument("--steps", type=int, default=20, help="training steps (default 20)")
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    checks: list[tuple[str, Callable[[], str]]] = [
        ("runtime", runtime),
        ("devices", visible_devices),
        ("bf16", bf16),
        ("all-reduce", all_reduce),
        ("training", lambda: training_steps(args.config, args.overrides, args.steps)),
    ]
    for name, check in checks:
        try:
            detail = check()
        except Exception as error:  # every failure is this check's, reported in one line
            print(f"FAIL {name}: {error}", flush=True)
            raise SystemExit(1) from None
        print(f"ok   {name}: {detail}", flush=True)


if __name__ == "__main__":
    main()
