"""Detect the training hardware of this machine: cheap probes, no framework imports.

Each probe takes what it reads as arguments (with the real machine as default), so tests can
describe any machine.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

GOOGLE_PCI_VENDOR = "0x1ae0"
# PCI device ids of TPU chips (v2/v3, v4, v5p, v5e, v6e, 7x); Google's other devices (gVNIC) differ.
TPU_PCI_DEVICES = frozenset({"0x0027", "0x0056", "0x005e", "0x0062", "0x0063", "0x006f", "0x0076"})
TPU_ENV_VARS = ("TPU_ACCELERATOR_TYPE", "TPU_NAME")


@dataclass(frozen=True)
class Detected:
    """The detected hardware as an answer (a key of `questions.HARDWARE`) and in words."""

    hardware: str
    detail: str
    gpu_count: int = 0


def nvidia_gpus(run: Callable[[list[str]], str | None] | None = None) -> list[str]:
    """The names of the NVIDIA GPUs that `nvidia-smi` lists (none when it is missing or fails)."""
    output = (run or _run)(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"])
    return [line.strip() for line in (output or "").splitlines() if line.strip()]


def _run(command: list[str]) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def _pci_devices(root: Path = Path("/sys/bus/pci/devices")) -> Iterable[tuple[str, str]]:
    """(vendor, device) ids of the PCI devices Linux lists."""
    if not root.is_dir():
        return
    for device in root.iterdir():
        try:
            yield (device / "vendor").read_text().strip(), (device / "device").read_text().strip()
        except OSError:
            continue


def is_tpu_vm(
    pci_devices: Iterable[tuple[str, str]] | None = None,
    accel_nodes: Iterable[Path] | None = None,
    environ: Mapping[str, str] = os.environ,
) -> bool:
    """A Cloud TPU VM: a TPU chip on the PCI bus, `/dev/accel<N>` nodes, or the TPU variables."""
    devices = _pci_devices() if pci_devices is None else pci_devices
    if any(v == GOOGLE_PCI_VENDOR and d in TPU_PCI_DEVICES for v, d in devices):
        return True
    nodes = Path("/dev").glob("accel[0-9]*") if accel_nodes is None else accel_nodes
    return any(True for _ in nodes) or any(environ.get(name) for name in TPU_ENV_VARS)


def is_apple_silicon(system: str | None = None, machine: str | None = None) -> bool:
    return (system or platform.system()) == "Darwin" and (machine or platform.machine()) == "arm64"


def detect(
    gpus: list[str] | None = None,
    tpu: bool | None = None,
    apple: bool | None = None,
) -> Detected:
    """What this machine trains on; the arguments replace the probes of the same name."""
    gpus = nvidia_gpus() if gpus is None else gpus
    if len(gpus) > 1:
        names = ", ".join(sorted(set(gpus)))
        return Detected("multi_gpu", f"{len(gpus)} NVIDIA GPUs ({names})", len(gpus))
    if gpus:
        return Detected("gpu", f"NVIDIA {gpus[0].removeprefix('NVIDIA ')}", 1)
    if is_tpu_vm() if tpu is None else tpu:
        return Detected("tpu", "a Cloud TPU VM")
    if is_apple_silicon() if apple is None else apple:
        return Detected("apple", "Apple Silicon")
    return Detected("cpu", "no GPU or TPU found")
