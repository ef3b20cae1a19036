"""Pretrained backbones (issue 15) in JAX image and text projects, offline and without torch.

The "published" models are tests/fixtures/pretrained/: tiny transformers models (random
weights, batch norm statistics and layer norms) saved by `save_pretrained` with their
preprocessing (`preprocessor_config.json`, `tokenizer.json`) and a model card, and the source
model's pooled features for fixed inputs in `reference.npz` (written by `make_resnet.py` and
`make_bert.py` in the PyTorch environment): `resnet` (basic layers), `resnet-bottleneck`
(ResNet-50 style) and `bert`. Checked: the template's Flax NNX models, loaded through their key
mappings, give the reference features (text: from the same token ids); a frozen warm start moves
the head only, then every backbone parameter; the run records the weights' source, SHA-256 and
licence; the exports match the model; wrong weights, an unsupported architecture, a tokenizer of
another model and a model name that cannot be fetched each stop with one line naming them; a
start that failed that way does not hold the run to its config.

The text project runs in the JAX environment with `requirements/pretrained.txt` on top (the
`tokenizers` package); the image project needs nothing more than the JAX environment.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from .harness import Project, read_metrics
from .test_pretrained import pretrained_env

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("jax-pretrained")]

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "pretrained"
FIXTURE = {"image": FIXTURES / "resnet", "text": FIXTURES / "bert"}
# the fixture BERT has 32 positions; 3 steps an epoch of the text sample (image: 4)
TASK_OVERRIDES = {"image": [], "text": ["data.max_length=32", "data.batch_size=100"]}

SAME_AS_REFERENCE = """
import sys
import jax.numpy as jnp
import numpy as np
from flax import nnx
from {package} import pretrained
from {package}.config import load_config
from {package}.data import Example, Preprocessor, load_split
from {package}.model import create_model

task, *folders = sys.argv[1:]
for folder in folders:
    reference = np.load(f"{{folder}}/reference.npz")
    overrides = ["model.backbone=transformers", f"model.pretrained={{folder}}"]
    if task == "text":
        overrides.append(f"data.max_length={{reference['tokens'].shape[1]}}")
    config = load_config(None, overrides)
    preprocessor = Preprocessor.fit(load_split(config.data, "train"), config.data)
    if task == "text":
        preprocessor = pretrained.adapt(preprocessor, config.model)
        texts = [Example(str(text)) for text in reference["texts"]]
        inputs = preprocessor.encode(texts)["tokens"]
        assert (inputs == reference["tokens"]).all(), "not the source tokenizer's token ids"
    else:
        inputs = reference["image"]
    model = create_model(config.model, preprocessor, jnp.float32, nnx.Rngs(0))
    pretrained.load_weights(model, config.model, None)
    model.eval()
    features = np.asarray(model.features(jnp.asarray(inputs)))
    difference = np.abs(features - reference["features"]).max()
    assert difference < 1e-5, (folder, difference)
    print("equal", features.shape)
"""

# How many backbone parameters of each checkpoint differ from the published ones, of how many,
# and whether the head moved since the first checkpoint. Attention's key biases are left out:
# their gradient is 0 (softmax ignores a shift shared by every key), so they need not move.
MOVED = """
import json
import sys
from pathlib import Path
import numpy as np
from flax import nnx
from {package} import pretrained
from {package}.checkpoint import load_trained

folder = Path(sys.argv[1])
model_type = json.loads((folder / "config.json").read_text())["model_type"]
published = pretrained.published_tensors(folder / "model.safetensors", model_type)
models = [load_trained(Path(path)).model for path in sys.argv[2:]]
for model in models[1:]:
    params = list(nnx.to_flat_state(nnx.state(model.backbone, nnx.Param)))
    params = [(p, v) for p, v in params if p[-2:] != ("key", "bias")]
    moved = sum(
        not np.array_equal(
            np.asarray(v[...]), pretrained.published_array(published[pretrained.hf_key(p)], p)
        )
        for p, v in params
    )
    head = not np.array_equal(np.asarray(model.head.kernel[...]), models[0].head.kernel[...])
    print(moved, len(params), head)
"""


@pytest.fixture(scope="module", params=["image", "text"])
def jax_project(request: pytest.FixtureRequest, baked_project) -> Project:
    project = baked_project("jax", request.param)
    if request.param == "text":
        project = Project(project.path, project.framework, project.task, pretrained_env("jax"))
    if not (project.path / "data" / "sample").exists():
        project.module("data", "sample", "--out", "data/sample")
    return project


def overrides(project: Project, pretrained: Path | str, name: str, *extra: str) -> list[str]:
    return [
        "model.backbone=transformers",
        f"model.pretrained={pretrained}",
        "data.num_workers=0",
        f"run.name={name}",
        "log.every=1",
        *TASK_OVERRIDES[project.task],
        *extra,
    ]


def test_the_flax_backbones_give_the_source_models_features(jax_project: Project) -> None:
    project = jax_project
    folders = ["resnet", "resnet-bottleneck"] if project.task == "image" else ["bert"]
    script = SAME_AS_REFERENCE.format(package=project.package)
    paths = [str(FIXTURES / folder) for folder in folders]
    result = project.run(str(project.env.python), "-c", script, project.task, *paths)
    shapes = {"image": ["(2, 16)", "(2, 32)"], "text": ["(4, 16)"]}[project.task]
    assert result.stdout.split() == [w for s in shapes for w in ("equal", *s.split())], (
        result.stdout
    )


def test_a_frozen_warm_start_moves_the_head_then_the_backbone_and_exports(
    jax_project: Project,
) -> None:
    project, fixture = jax_project, FIXTURE[jax_project.task]
    args = overrides(project, fixture, "warm", "model.freeze_epochs=1", "trainer.max_epochs=2")
    project.module("train", *args, "trainer.checkpoint_every=1", "trainer.keep_checkpoints=30")
    run = project.path / "runs" / "warm"
    epoch, end = [m["step"] for m in read_metrics(run) if m["split"] == "val"]
    checkpoints = [str(run / "checkpoints" / str(step)) for step in (1, epoch, end)]
    script = MOVED.format(package=project.package)
    result = project.run(str(project.env.python), "-c", script, str(fixture), *checkpoints)
    frozen, unfrozen = (line.split() for line in result.stdout.strip().splitlines())
    assert frozen[0] == "0" and frozen[2] == "True", result.stdout
    assert unfrozen[0] == unfrozen[1] and unfrozen[2] == "True", result.stdout

    record = json.loads((run / "backbone.json").read_text())
    weights = (fixture / "model.safetensors").read_bytes()
    assert record["sha256"] == hashlib.sha256(weights).hexdigest()
    assert record["license"] == "apache-2.0"
    assert record["source"] == str(fixture)
    if project.task == "image":
        assert record["mean"] == [0.5, 0.4, 0.3]
    else:
        tokenizer = (fixture / "tokenizer.json").read_bytes()
        assert record["tokenizer_sha256"] == hashlib.sha256(tokenizer).hexdigest()

    project.module("export", "--checkpoint", str(run))
    checks = json.loads((run / "export" / "export.json").read_text())
    assert {c["format"] for c in checks} == {"stablehlo", "savedmodel", "onnx"}, checks
    if project.task == "text":
        saved = json.loads((run / "export" / "preprocessor.json").read_text())
        assert json.loads(saved["tokenizer"]) == json.loads(tokenizer), "not the model's tokenizer"
    assert all(c["max_abs_diff"] <= c["tolerance"] for c in checks), checks


def changed_copy(tmp_path: Path, fixture: Path, **config: object) -> Path:
    folder = tmp_path / "weights"
    shutil.copytree(fixture, folder)
    original = json.loads((fixture / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**original, **config}))
    return folder


@pytest.mark.parametrize(
    ("jax_project", "config", "message"),
    [
        (
            "image",
            {"hidden_sizes": [8, 24]},
            "encoder.stages.1.layers.0.layer.0.convolution.weight has shape [16, 8, 3, 3],"
            " the model expects [24, 8, 3, 3]",
        ),
        ("image", {"layer_type": "preactivation"}, "resnet (preactivation layers) is not"),
        (
            "text",
            {"intermediate_size": 24},
            "encoder.layer.0.intermediate.dense.bias has shape [32], the model expects [24]",
        ),
        ("text", {"vocab_size": 40}, "the tokenizer has 74 tokens, more than the model's 40"),
        ("text", {"model_type": "roberta"}, "roberta is not supported here"),
    ],
    indirect=["jax_project"],
)
def test_weights_that_do_not_fit_stop_with_one_line(
    jax_project: Project, tmp_path: Path, config: dict, message: str
) -> None:
    folder = changed_copy(tmp_path, FIXTURE[jax_project.task], **config)
    args = overrides(jax_project, folder, tmp_path.name)
    result = jax_project.module("train", *args, check=False)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert message in line, line


def test_a_model_name_that_cannot_be_fetched_stops_with_one_line_naming_it(
    jax_project: Project,
) -> None:
    args = overrides(jax_project, "nobody/no-such-model", "hub")
    offline = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(jax_project.path / "hf-home")}
    result = jax_project.module("train", *args, check=False, extra_env=offline)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "model.pretrained=nobody/no-such-model" in line, line


@pytest.mark.parametrize("jax_project", ["image"], indirect=True)
def test_a_start_that_failed_does_not_hold_the_run_to_its_config(
    jax_project: Project, tmp_path: Path
) -> None:
    """A wrong folder stops the start after the run folder is written; the corrected folder
    then starts the same run (no "started with a different config")."""
    missing = tmp_path / "no-such-folder"
    result = jax_project.module("train", *overrides(jax_project, missing, "retry"), check=False)
    assert result.returncode == 2 and "no such folder" in result.stderr, result.stderr
    assert (jax_project.path / "runs" / "retry" / "config.yaml").is_file()
    fixture = FIXTURE["image"]
    jax_project.module("train", *overrides(jax_project, fixture, "retry", "trainer.max_steps=1"))
    record = json.loads((jax_project.path / "runs" / "retry" / "backbone.json").read_text())
    assert record["source"] == str(fixture)
