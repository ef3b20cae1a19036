"""Run by `dlstart doctor` inside a project's interpreter, which may hold nothing but the standard
library: `environment` reports the Python version, the environment markers and the installed
distributions; `pytorch`, `tensorflow` or `jax` imports the framework and reports the devices
it sees. The answer is one JSON line after MARKER (frameworks print their own logs)."""

from __future__ import annotations

import json
import os
import platform
import re
import sys

MARKER = "DLSTART-PROBE "


def environment() -> dict:
    from importlib import metadata

    installed = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            installed[re.sub(r"[-_.]+", "-", name).lower()] = dist.version
    markers = {
        "implementation_name": sys.implementation.name,
        "implementation_version": platform.python_version(),
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_python_implementation": platform.python_implementation(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }
    return {"python": platform.python_version(), "markers": markers, "installed": installed}


def pytorch() -> dict:
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    mps = getattr(torch.backends, "mps", None)
    return {
        "module": "torch",
        "version": torch.__version__,
        "gpu": gpus,
        "gpu_names": [torch.cuda.get_device_name(i) for i in range(gpus)],
        "tpu": 0,
        "apple": int(bool(mps and mps.is_available())),
    }


def tensorflow() -> dict:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return {
        "module": "tensorflow",
        "version": tf.__version__,
        "gpu": len(gpus),
        "gpu_names": [gpu.name for gpu in gpus],
        "tpu": len(tf.config.list_physical_devices("TPU")),
        "apple": 0,
    }


def jax() -> dict:
    import jax

    devices = jax.devices()
    platforms = [device.platform.lower() for device in devices]
    return {
        "module": "jax",
        "version": jax.__version__,
        "gpu": sum(p in ("gpu", "cuda", "rocm") for p in platforms),
        "gpu_names": [d.device_kind for d, p in zip(devices, platforms, strict=True) if p != "cpu"],
        "tpu": platforms.count("tpu"),
        "apple": platforms.count("metal"),
    }


PROBES = {"environment": environment, "pytorch": pytorch, "tensorflow": tensorflow, "jax": jax}

if __name__ == "__main__":
    print(MARKER + json.dumps(PROBES[sys.argv[1]]()), flush=True)
