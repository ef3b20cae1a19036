"""What JAX adds: an exact resume, the run's semantics, a full disk while checkpointing, two devices
training like one, exports without TensorFlow."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import nnx

from {{ cookiecutter.package_name }} import train
from {{ cookiecutter.package_name }}.checkpoint import load_trained
from {{ cookiecutter.package_name }}.config import load_config, save_config
from {{ cookiecutter.package_name }}.data import (
    PREPROCESSOR_FILE,
    Preprocessor,
    load_split,
{%- if cookiecutter.task != "image" %}
    write_sample,
{%- endif %}
)
from {{ cookiecutter.package_name }}.data.pipeline import Split, train_batches
from {{ cookiecutter.package_name }}.runs import Run

from conftest import tiny_overrides

SRC = Path(__file__).resolve().parents[1] / "src"


def losses(run: Run) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in run.read_metrics() if r["split"] == "train"}


def test_data_stream_continues_from_a_saved_position(tiny_config) -> None:
    train_split = load_split(tiny_config.data, "train")
    split = Split(train_split, Preprocessor.fit(train_split, tiny_config.data))
    options = {"seed": 0, "num_workers": 0{% if cookiecutter.task == "image" %}, "augment": True{% endif %}}
    stream = train_batches(split, 4, **options)
    for _ in range(3):
        next(stream)
    state = stream.get_state()
    expected = [next(stream) for _ in range(2)]
    resumed = train_batches(split, 4, **options)
    resumed.set_state(state)
    for batch in expected:
        for name, array in next(resumed).items():
            np.testing.assert_array_equal(array, batch[name])


def test_resumed_run_ends_like_an_uninterrupted_one(sample_data: Path, tmp_path: Path) -> None:
    """Stopped after its step 10 checkpoint and restarted, a run crosses epochs (a new order
    each){% if cookiecutter.task == "image" %} with augmentation and loader processes on{% endif %} and ends with the weights of an
    uninterrupted one."""

    def overrides(name: str) -> list[str]:
        return [
            *tiny_overrides(sample_data, tmp_path, name, steps=14),
            "data.batch_size=32",
            "trainer.checkpoint_every=5",
{%- if cookiecutter.task == "image" %}
            "data.augment=true",
            "data.num_workers=2",
{%- endif %}
        ]

    train.main(overrides("straight"))
    straight = Run.of(load_config(overrides=overrides("straight")))
    resumed = Run.of(load_config(overrides=overrides("resumed")))
    # The same run stopped after its step 10 checkpoint, then restarted:
    shutil.copytree(straight.root, resumed.root)
    shutil.rmtree(resumed.checkpoints / "14")
    save_config(load_config(overrides=overrides("resumed")), resumed.config_file)
    kept = [record for record in resumed.read_metrics() if record["step"] <= 10]
    resumed.metrics_file.write_text("".join(json.dumps(record) + "\n" for record in kept))

    train.main(overrides("resumed"))
    assert losses(resumed) == losses(straight)
    weights = nnx.Any(nnx.Param, nnx.BatchStat)
    final = [nnx.state(load_trained(run.root).model, weights) for run in (straight, resumed)]
    for a, b in zip(jax.tree.leaves(final[0]), jax.tree.leaves(final[1]), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_resume_reuses_the_preprocessing_fitted_at_the_start(
    sample_data: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(sample_data, data)
    overrides = tiny_overrides(data, tmp_path / "runs")
    train.main(overrides)
    run = Run.of(load_config(overrides=overrides))
    fitted = (run.root / PREPROCESSOR_FILE).read_bytes()
{%- if cookiecutter.task == "image" %}
    for split in ("train", "val"):  # a refit would know one class less
        shutil.rmtree(min((data / split).iterdir()))
{%- else %}
    shutil.rmtree(data)
    write_sample(data, seed=1)  # a refit would find another vocabulary or other statistics
{%- endif %}
    train.main([*overrides, "trainer.max_steps=3"])
    assert (run.root / PREPROCESSOR_FILE).read_bytes() == fitted
    assert list(losses(run)) == [1, 2, 3]


def test_training_without_a_val_split_says_so(
    sample_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    shutil.copytree(sample_data, data, ignore=shutil.ignore_patterns("val*"))
    overrides = tiny_overrides(data, tmp_path / "runs")
    train.main(overrides)
    out = capsys.readouterr().out
    assert f"No val split in {data}" in out
    assert "no validation: the data has no val split" in out
    run = Run.of(load_config(overrides=overrides))
    assert {record["split"] for record in run.read_metrics()} == {"train"}


def test_a_full_disk_stops_with_one_line_and_a_restart_resumes(
    sample_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ENOSPC while checkpoint 4 is written (in Orbax's background thread): one line naming it
    and the last good one, exit status 1, the partial files removed. A restart resumes from
    step 2, whatever leftovers of an interrupted write it finds."""
    overrides = [
        *tiny_overrides(sample_data, tmp_path, "full", steps=4),
        "trainer.checkpoint_every=2",
    ]
    code = (
        "import errno, os\n"
        "from etils import epath\n"
        "from {{ cookiecutter.package_name }}.train import main\n"
        "write_text = epath.gpath.PosixGPath.write_text\n"
        "def disk_full(path, *args, **kwargs):\n"
        "    if '4.orbax-checkpoint-tmp' in str(path):\n"
        "        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))\n"
        "    return write_text(path, *args, **kwargs)\n"
        "epath.gpath.PosixGPath.write_text = disk_full\n"
        f"main({overrides!r})\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    run = Run.of(load_config(overrides=overrides))
    expected = (
        f"error: disk full writing checkpoint {run.checkpoints / '4'};"
        f" the last good checkpoint is {run.checkpoints / '2'}"
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[-1] == expected
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in run.checkpoints.iterdir()) == ["2"]

    (run.checkpoints / "3.orbax-checkpoint-tmp-1764460800" / "model").mkdir(parents=True)
    train.main(overrides)
    assert f"Resumed from step 2 ({run.checkpoints / '2'})" in capsys.readouterr().out
    assert sorted(p.name for p in run.checkpoints.iterdir()) == ["2", "4"]


def test_two_devices_train_like_one(trained_run: Run, sample_data: Path, tmp_path: Path) -> None:
    """Data parallel over two CPU devices (a fresh process: JAX fixes its devices at start)."""
    overrides = tiny_overrides(sample_data, tmp_path, "two")
    code = f"from {{ cookiecutter.package_name }}.train import main; main({overrides!r})"
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": "2", "PYTHONPATH": str(SRC)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    two = Run.of(load_config(overrides=overrides))
    one = losses(trained_run)
    assert list(losses(two)) == list(one)
    np.testing.assert_allclose(list(losses(two).values()), list(one.values()), rtol=1e-5)


def test_export_writes_every_format_and_serving_needs_no_tensorflow(export_dir: Path) -> None:
    checks = json.loads((export_dir / "export.json").read_text())
    assert {check["format"] for check in checks} == {"stablehlo", "savedmodel", "onnx"}
    code = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "from {{ cookiecutter.package_name }}.data import PREPROCESSOR_FILE, Preprocessor\n"
        "from {{ cookiecutter.package_name }}.inference import load_predictor\n"
        f"export = Path({str(export_dir)!r})\n"
        "spec = Preprocessor.load(export / PREPROCESSOR_FILE).input_spec\n"
        "inputs = {k: np.zeros((3, *shape), dtype) for k, (shape, dtype) in spec.items()}\n"
        "assert load_predictor(export)(inputs).shape[0] == 3\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
