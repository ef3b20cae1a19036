from __future__ import annotations

from pathlib import Path

import pytest

from dlstart import hardware
from dlstart.hardware import detect  # bound before conftest replaces hardware.detect


def _smi(output: str | None):
    return lambda command: output if command[0] == "nvidia-smi" else None


def test_nvidia_smi_lists_gpus() -> None:
    out = "NVIDIA H100 80GB HBM3\nNVIDIA H100 80GB HBM3\n"
    assert hardware.nvidia_gpus(_smi(out)) == ["NVIDIA H100 80GB HBM3"] * 2
    assert hardware.nvidia_gpus(_smi(None)) == []
    assert hardware.nvidia_gpus(_smi("")) == []


def test_missing_nvidia_smi_is_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    assert hardware.nvidia_gpus() == []


def test_tpu_from_pci_ids_not_from_other_google_devices() -> None:
    gvnic = [("0x1ae0", "0x0042")]
    assert not hardware.is_tpu_vm(pci_devices=gvnic, accel_nodes=[], environ={})
    v5e = [*gvnic, ("0x1ae0", "0x0063")]
    assert hardware.is_tpu_vm(pci_devices=v5e, accel_nodes=[], environ={})
    nvidia = [("0x10de", "0x2330")]
    assert not hardware.is_tpu_vm(pci_devices=nvidia, accel_nodes=[], environ={})


def test_tpu_from_accel_nodes_or_environment() -> None:
    assert hardware.is_tpu_vm(pci_devices=[], accel_nodes=[Path("/dev/accel0")], environ={})
    env = {"TPU_ACCELERATOR_TYPE": "v4-8"}
    assert hardware.is_tpu_vm(pci_devices=[], accel_nodes=[], environ=env)
    assert not hardware.is_tpu_vm(pci_devices=[], accel_nodes=[], environ={"TPU_NAME": ""})


def test_pci_devices_read_from_sysfs(tmp_path: Path) -> None:
    devices = [("0000:00:04.0", "0x1ae0", "0x005e"), ("0000:00:05.0", "0x8086", "0x1237")]
    for name, vendor, device in devices:
        (tmp_path / name).mkdir()
        (tmp_path / name / "vendor").write_text(vendor + "\n")
        (tmp_path / name / "device").write_text(device + "\n")
    (tmp_path / "broken").mkdir()
    assert sorted(hardware._pci_devices(tmp_path)) == [("0x1ae0", "0x005e"), ("0x8086", "0x1237")]
    assert list(hardware._pci_devices(tmp_path / "absent")) == []


def test_apple_silicon() -> None:
    assert hardware.is_apple_silicon("Darwin", "arm64")
    assert not hardware.is_apple_silicon("Darwin", "x86_64")
    assert not hardware.is_apple_silicon("Linux", "arm64")


def test_detect_prefers_gpus_then_tpu_then_apple() -> None:
    two = detect(gpus=["NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB"], tpu=False, apple=False)
    assert (two.hardware, two.gpu_count) == ("multi_gpu", 2)
    assert "2 NVIDIA GPUs" in two.detail and "A100" in two.detail
    one = detect(gpus=["NVIDIA GeForce RTX 4090"], tpu=True, apple=False)
    assert (one.hardware, one.gpu_count, one.detail) == ("gpu", 1, "NVIDIA GeForce RTX 4090")
    assert detect(gpus=[], tpu=True, apple=True).hardware == "tpu"
    assert detect(gpus=[], tpu=False, apple=True).hardware == "apple"
    cpu = detect(gpus=[], tpu=False, apple=False)
    assert cpu == hardware.Detected("cpu", "no GPU or TPU found")


def test_detect_on_this_machine_is_an_answer_the_questions_know() -> None:
    from dlstart.questions import HARDWARE

    assert detect().hardware in HARDWARE
