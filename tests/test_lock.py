"""make lock: every template's requirements/*.txt is uv's resolution of its list in locks/.

The tests marked `network` resolve against the package index (uv, without installing);
deselect them offline with `-m "not network"`.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

SPEC = importlib.util.spec_from_file_location("lock_tool", ROOT / "tools" / "lock.py")
lock = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = lock
SPEC.loader.exec_module(lock)

SLUG = "{{cookiecutter.project_slug}}"


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty repository layout that tools/lock.py reads and writes instead of this one."""
    monkeypatch.setattr(lock, "ROOT", tmp_path)
    monkeypatch.setattr(lock, "LOCKS", tmp_path / "locks")
    monkeypatch.setattr(lock, "TEMPLATES", tmp_path / "templates")
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def requirements_file(root: Path, template: str, target: str) -> Path:
    return root / "templates" / template / SLUG / "requirements" / f"{target}.txt"


def test_every_requirements_file_comes_from_an_input_list() -> None:
    shared = {
        path
        for manifest in (ROOT / "templates").glob("*/shared-files.txt")
        for path in (manifest.parent / line for line in manifest.read_text().splitlines())
    }
    files = {
        path for path in (ROOT / "templates").glob(f"*/{SLUG}/requirements/*") if path not in shared
    }
    assert files == {entry.output for entry in lock.all_locks()}
    for framework in ("pytorch", "tensorflow", "jax"):
        assert lock.Lock(framework, "cpu") in lock.all_locks()


def test_accelerator_files_pin_the_versions_ci_tests_on_cpu() -> None:
    checked = 0
    for entry in lock.all_locks():
        if entry.template == lock.SHARED or entry.target == lock.CPU:
            continue
        cpu = lock.read_pins(entry.sibling(lock.CPU).output)
        assert lock.untested(entry, lock.read_pins(entry.output), cpu) == [], entry.name
        checked += 1
    assert checked >= 6


def test_render_keeps_header_spelling_and_extras_in_canonical_order(tree: Path) -> None:
    write(tree / "locks/jax/_base.in", "# not a header of cuda.txt\nflax\n")
    write(tree / "locks/jax/cuda.in", "# GPUs.\n#   pip install\n\n-r _base.in\njax[cuda12]\n")
    write(requirements_file(tree, "jax", "cuda"), "# old header\nml_dtypes==0.5.0\nPyYAML==6.0\n")
    pins = {
        "typing-inspection": ("typing-inspection", "0.4.5"),
        "pyyaml": ("pyyaml", "6.0.3"),
        "typing-extensions": ("typing-extensions", "4.16.0"),
        "jax": ("jax", "0.10.2"),
        "ml-dtypes": ("ml-dtypes", "0.6.0"),
    }
    assert lock.render(lock.Lock("jax", "cuda"), pins) == (
        "# GPUs.\n#   pip install\n"
        "jax[cuda12]==0.10.2\nml_dtypes==0.6.0\nPyYAML==6.0.3\n"
        "typing-extensions==4.16.0\ntyping-inspection==0.4.5\n"
    )


def fake_resolve(results: dict[tuple[str, ...], dict[str, str]]):
    """A stand-in for uv: the pins for each combination of input list names."""

    def resolve(entry, inputs, prefer, upgrade, python=None, fixed=None, excluded=None):
        found = results[tuple(path.stem for path in inputs)]
        return {name: (name, version) for name, version in found.items()}

    return resolve


def layer_tree(tree: Path) -> None:
    for target in ("cpu", "cuda", "tpu", "export"):
        write(tree / f"locks/jax/{target}.in", f"# {target}\n")
    write(requirements_file(tree, "jax", "cpu"), "numpy==2.0\nscipy==1.0\ntensorflow-cpu==2.21\n")
    write(requirements_file(tree, "jax", "cuda"), "numpy==2.0\nnvidia-x==12\n")
    write(requirements_file(tree, "jax", "tpu"), "numpy==2.0\nscipy==1.0\n")


def test_a_layer_holds_what_it_adds_on_top_of_each_base(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer_tree(tree)
    resolve = fake_resolve(
        {
            ("cuda", "export"): {"numpy": "2.0", "nvidia-x": "12", "tensorflow-cpu": "2.21"},
            ("tpu", "export"): {"numpy": "2.0", "scipy": "1.0", "tensorflow-cpu": "2.21"},
        }
    )
    monkeypatch.setattr(lock, "resolve", resolve)
    assert lock.lock_pins(lock.Lock("jax", "export"), {}, []) == {
        "tensorflow-cpu": ("tensorflow-cpu", "2.21")
    }


def test_a_layer_that_moves_a_pin_of_its_base_is_refused(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer_tree(tree)
    resolve = fake_resolve(
        {("cuda", "export"): {"numpy": "2.1", "nvidia-x": "12", "tensorflow-cpu": "2.21"}}
    )
    monkeypatch.setattr(lock, "resolve", resolve)
    with pytest.raises(
        lock.LockError, match=r"does not fit on jax/cuda: it moves numpy 2.0 -> 2.1"
    ):
        lock.lock_pins(lock.Lock("jax", "export"), {}, [])


def test_a_target_pinning_what_ci_does_not_test_is_refused(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tree / "locks/pytorch/cuda.in", "# cuda\n")
    write(requirements_file(tree, "pytorch", "cpu"), "numpy==2.0\ntorch==2.13.0+cpu\n")
    found = {"numpy": "2.0", "torch": "2.13.0", "nvidia-x": "13"}
    monkeypatch.setattr(lock, "resolve", fake_resolve({("cuda",): found}))
    assert set(lock.lock_pins(lock.Lock("pytorch", "cuda"), {}, [])) == set(found)

    found["numpy"] = "2.1"
    with pytest.raises(lock.LockError, match=r"numpy 2.1 \(cpu.txt: 2.0\).*DIFFERS_FROM_CPU"):
        lock.lock_pins(lock.Lock("pytorch", "cuda"), {}, [])


def test_a_failing_list_writes_no_file(
    tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tree / "locks/pytorch/cpu.in", "# cpu\n")
    write(tree / "locks/pytorch/cuda.in", "# cuda\n")
    cpu = write(requirements_file(tree, "pytorch", "cpu"), "# cpu\nnumpy==2.0\n")
    results = {("cpu",): {"numpy": "2.1"}, ("cuda",): {"numpy": "2.2"}}
    monkeypatch.setattr(lock, "resolve", fake_resolve(results))
    assert lock.main([]) == 1
    assert capsys.readouterr().err.startswith("error: pytorch/cuda pins what CI does not test")
    assert cpu.read_text() == "# cpu\nnumpy==2.0\n"
    assert not requirements_file(tree, "pytorch", "cuda").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--framework", "torch"], "error: no input list for torch/*"),
        (["--upgrade-package", "nump"], "error: --upgrade-package nump: no selected file pins it"),
    ],
)
def test_bad_arguments_are_one_line_and_write_nothing(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {p: p.read_text() for p in (ROOT / "templates").glob(f"*/{SLUG}/requirements/*")}
    assert lock.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert {p: p.read_text() for p in before} == before


@pytest.mark.network
def test_committed_files_are_what_their_input_lists_resolve_to() -> None:
    """Resolves every file, cuda, tpu and apple included, as `make lock-check` does."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "lock.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    states = {line.split()[0]: line.split()[3] for line in result.stdout.splitlines()}
    for name in ("pytorch/cuda", "pytorch/apple", "tensorflow/cuda", "tensorflow/tpu"):
        assert states[name] == "unchanged"
    for name in ("jax/cuda", "jax/tpu", "jax/export"):
        assert states[name] == "unchanged"


@pytest.mark.network
def test_check_fails_on_a_package_added_only_to_the_input_list(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tree / "locks/_shared/dev.in", "# Tools.\n\npytest==9.2.0\n")
    output = write(requirements_file(tree, "_shared", "dev"), "# Tools.\npytest==9.2.0\n")
    assert lock.main(["--check"]) == 0

    source.write_text(source.read_text() + "ruff==0.17.6\n")
    assert lock.main(["--check"]) == 1
    out = capsys.readouterr().out
    assert "+ruff==0.17.6" in out and "_shared/dev" in out
    assert output.read_text() == "# Tools.\npytest==9.2.0\n"

    assert lock.main([]) == 0
    assert output.read_text() == "# Tools.\npytest==9.2.0\nruff==0.17.6\n"
    assert lock.main(["--check"]) == 0


def test_tensorflows_pretrained_layer_leaves_out_tensorflow_text() -> None:
    """keras-hub declares tensorflow-text, which needs `tensorflow` beside tensorflow-cpu: the
    layer pins keras-hub's other dependencies and is installed with --no-deps."""
    layer = lock.Lock("tensorflow", "pretrained")
    pins = lock.read_pins(layer.output)
    assert "keras-hub" in pins and "tokenizers" in pins
    assert not {"tensorflow-text", "tensorflow"} & pins.keys()
    assert "--no-deps -r requirements/pretrained.txt" in layer.output.read_text()
