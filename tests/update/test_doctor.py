"""`dlstart doctor` on a small fake project, checked with the interpreter running the tests.

A stub `torch` on PYTHONPATH stands in for the framework: it reports the GPUs the test asks for.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from update_helpers import cli

from dlstart.doctor import project_python
from dlstart.errors import Exit

PYTHON = ".".join(platform.python_version_tuple()[:2])
STUB_TORCH = """\
import os
import time

__version__ = "2.99.0+stub"
time.sleep(float(os.environ.get("STUB_SLEEP", "0")))
GPUS = int(os.environ.get("STUB_GPUS", "0"))


class cuda:
    is_available = staticmethod(lambda: GPUS > 0)
    device_count = staticmethod(lambda: GPUS)
    get_device_name = staticmethod(lambda index: "Stub GPU")


class backends:
    pass
"""


@pytest.fixture
def stub_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stubs = tmp_path / "stubs"
    (stubs / "torch").mkdir(parents=True)
    (stubs / "torch" / "__init__.py").write_text(STUB_TORCH)
    monkeypatch.setenv("PYTHONPATH", str(stubs))


def fake_project(
    root: Path, hardware: str = "cpu", python: str = PYTHON, pins: str = "", **answers: object
) -> Path:
    project = root / "fake"
    (project / "requirements").mkdir(parents=True)
    (project / ".python-version").write_text(f"{python}\n")
    (project / ".copier-answers.yml").write_text(
        yaml.safe_dump({"framework": "pytorch", "hardware": hardware, **answers})
    )
    (project / "requirements" / "base.txt").write_text(
        f"packaging=={metadata.version('packaging')} \\\n    --hash=sha256:0123  # via dlstart\n"
    )
    (project / "requirements" / f"{hardware}.txt").write_text(
        "-r base.txt\n"
        f"PyYAML=={metadata.version('pyyaml')}\n"
        'never-installed==1.0 ; python_version < "3.0"\n' + pins
    )
    return project


def test_healthy_project(
    tmp_path: Path, stub_torch: None, capsys: pytest.CaptureFixture[str]
) -> None:
    project = fake_project(tmp_path)

    assert cli("doctor", project) == 0

    out = capsys.readouterr().out
    assert f"ok    Python {platform.python_version()} matches .python-version ({PYTHON})" in out
    assert "ok    3 packages match requirements/cpu.txt" in out
    assert "torch 2.99.0+stub sees no accelerator (CPU only)" in out
    assert out.rstrip().endswith("All good.")


def test_every_mismatch_is_reported_with_a_fix(
    tmp_path: Path, stub_torch: None, capsys: pytest.CaptureFixture[str]
) -> None:
    other_python = f"3.{sys.version_info.minor + 1}"
    project = fake_project(
        tmp_path,
        hardware="gpu",
        python=other_python,
        pins="pyyaml-include-nothing==1.0\npackaging>=99\n",
    )

    assert cli("doctor", project) == 1

    out = capsys.readouterr().out
    assert f"but .python-version asks for {other_python}" in out
    assert f"python{other_python} -m venv .venv" in out
    assert "2 of 5 packages differ from requirements/gpu.txt" in out
    assert "pyyaml-include-nothing: not installed (pinned ==1.0)" in out
    assert f"packaging: {metadata.version('packaging')} installed, >=99 pinned" in out
    assert "-m pip install -r requirements/gpu.txt" in out
    assert "sees no accelerator (CPU only); hardware gpu needs an NVIDIA GPU" in out
    assert "nvidia-smi" in out
    assert out.rstrip().endswith("3 problems.")


def test_accelerators_against_the_hardware(
    tmp_path: Path,
    stub_torch: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STUB_GPUS", "2")
    project = fake_project(tmp_path, hardware="multi_gpu", gpus_per_node=2)
    assert cli("doctor", project) == 0
    assert "sees 2 GPUs (Stub GPU), as hardware multi_gpu needs" in capsys.readouterr().out

    answers = project / ".copier-answers.yml"
    answers.write_text(answers.read_text().replace("gpus_per_node: 2", "gpus_per_node: 8"))
    assert cli("doctor", project) == 1
    out = capsys.readouterr().out
    assert "the project launches 8 per machine" in out
    assert "dlstart update --data gpus_per_node=2" in out

    (project / "requirements" / "cpu.txt").write_text("")
    assert cli("doctor", project, "--target", "cpu") == 0
    assert "the project trains on CPU (`dlstart update --data hardware=gpu`" in (
        capsys.readouterr().out
    )


def test_framework_that_does_not_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "nothing-here"))
    project = fake_project(tmp_path)

    assert cli("doctor", project) == 1

    out = capsys.readouterr().out
    assert "framework does not load: ModuleNotFoundError: No module named 'torch'" in out


def test_slow_framework_import_times_out(
    tmp_path: Path,
    stub_torch: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STUB_SLEEP", "5")
    project = fake_project(tmp_path)

    assert cli("doctor", project, "--timeout", "0.5") == 1

    assert "does not load: no answer within 0.5 s" in capsys.readouterr().out


def test_unknown_target_and_not_a_project(
    tmp_path: Path, stub_torch: None, capsys: pytest.CaptureFixture[str]
) -> None:
    project = fake_project(tmp_path)
    assert cli("doctor", project, "--target", "tpu") == 1
    out = capsys.readouterr().out
    assert "no requirements/tpu.txt for target tpu" in out
    assert "choose a target with --target (base, cpu)" in out

    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli("doctor", empty) == Exit.REFUSED
    assert "is not a dlstart project" in capsys.readouterr().err


def test_the_project_venv_is_preferred(tmp_path: Path) -> None:
    venv_python = tmp_path / ".venv" / "bin" / "python"
    assert project_python(tmp_path) == Path(sys.executable)
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text("")
    assert project_python(tmp_path) == venv_python
