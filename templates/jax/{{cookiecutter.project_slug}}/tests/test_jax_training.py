"""What JAX adds: an exact resume, two devices training like one, exports without TensorFlow."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from conftest import tiny_overrides
from {{ cookiecutter.package_name }} import train
from {{ cookiecutter.package_name }}.checkpoint import load_trained
from {{ cookiecutter.package_name }}.config import load_config
from {{ cookiecutter.package_name }}.data import Preprocessor, load_split
from {{ cookiecutter.package_name }}.data.pipeline import Split, train_batches
from {{ cookiecutter.package_name }}.runs import Run

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
    def overrides(name: str) -> list[str]:
        return [*tiny_overrides(sample_data, tmp_path, name, steps=4), "trainer.checkpoint_every=2"]

    train.main(overrides("straight"))
    straight = Run.of(load_config(overrides=overrides("straight")))
    resumed = Run.of(load_config(overrides=overrides("resumed")))
    # The same run stopped after its step 2 checkpoint, then restarted:
    shutil.copytree(straight.root, resumed.root)
    shutil.rmtree(resumed.checkpoints / "4")
    kept = [record for record in resumed.read_metrics() if record["step"] <= 2]
    resumed.metrics_file.write_text("".join(json.dumps(record) + "\n" for record in kept))

    train.main(overrides("resumed"))
    assert losses(resumed) == losses(straight)
    weights = nnx.Any(nnx.Param, nnx.BatchStat)
    final = [nnx.state(load_trained(run.root).model, weights) for run in (straight, resumed)]
    for a, b in zip(jax.tree.leaves(final[0]), jax.tree.leaves(final[1]), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


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
    assert {check["format"] for check in checks} == {"stablehlo", "savedmodel", "litert"}
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
