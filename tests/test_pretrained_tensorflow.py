"""Pretrained backbones (issue 15), offline: TensorFlow image and text projects with a keras-hub
backbone.

No download is possible here, so the "published" preset is made by the source library: a ResNet
(image) or BERT (text) of the smallest configuration, random init, with its image converter or
WordPiece tokenizer, saved by keras-hub's `save_to_preset` (with its classifier task, as presets
are published) and a model card, in a folder that `model.pretrained` points at. Checked per task:
the loaded backbone's features equal keras-hub's own model on the same input (text: the token ids
equal keras-hub's preprocessor's too); a run records the weights' source, SHA-256 and licence; a
frozen warm start moves the head only, then the backbone; export parity holds and the export
serves; wrong weights, an unknown preset name, a pretrained name without a backbone and (text) a
tokenizer of another model each stop with one line naming them.

The framework environment gets `requirements/pretrained.txt` as a layer installed with
`--no-deps`, as its header says (keras-hub's tensorflow-text dependency is left out), in a venv
that sees the framework environment's packages (a .pth file).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .harness import (
    VENVS,
    Env,
    Project,
    _locked,
    find_python,
    framework_env,
    free_port,
    http,
    read_metrics,
    request_instances,
    stop,
    wait_for_health,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("tensorflow-pretrained")]

PUBLISH = {
    "image": """
import sys
from pathlib import Path
import keras_hub

out, width = Path(sys.argv[1]), int(sys.argv[2])
backbone = keras_hub.models.ResNetBackbone(
    input_conv_filters=[64], input_conv_kernel_sizes=[7], stackwise_num_filters=[64, width],
    stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="basic_block",
)
converter = keras_hub.layers.ResNetImageConverter(
    image_size=(32, 32), scale=[1 / (255 * s) for s in (0.2, 0.25, 0.3)],
    offset=[-m / s for m, s in ((0.5, 0.2), (0.4, 0.25), (0.3, 0.3))],
)
preprocessor = keras_hub.models.ResNetImageClassifierPreprocessor(image_converter=converter)
task = keras_hub.models.ResNetImageClassifier(backbone, num_classes=5, preprocessor=preprocessor)
task.save_to_preset(str(out))
(out / "README.md").write_text("---\\nlicense: apache-2.0\\n---\\n# A tiny ResNet\\n")
""",
    "text": """
import sys
from pathlib import Path
import keras_hub

out, width = Path(sys.argv[1]), int(sys.argv[2])
words = "the a this that we they it was is very match team goal recipe oven cell".split()
letters = list("abcdefghijklmnopqrstuvwxyz.")
vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *letters]
vocab += [f"##{c}" for c in letters]
tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocab, lowercase=True)
backbone = keras_hub.models.BertBackbone(
    vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=width,
    intermediate_dim=32, max_sequence_length=64,
)
preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=64)
task = keras_hub.models.BertTextClassifier(backbone, num_classes=3, preprocessor=preprocessor)
task.save_to_preset(str(out))
(out / "README.md").write_text("---\\nlicense: apache-2.0\\n---\\n# A tiny BERT\\n")
""",
}

# The project's model with the published weights vs keras-hub's own model and preprocessing.
SAME_AS_SOURCE = """
import sys
import keras
import keras_hub
import numpy as np
from {package} import pretrained
from {package}.config import load_config
from {package}.data import Preprocessor, load_split
from {package}.model import build_model

if sys.argv[2] == "text":
    from {package}.data.text import Example
folder, task = sys.argv[1:]
config = load_config(None, ["model.backbone=keras_hub", f"model.pretrained={{folder}}"])
preprocessor = Preprocessor.fit(load_split(config.data, "train"), config.data)
if task == "text":
    preprocessor = pretrained.adapt(preprocessor, config.model)
model = build_model(config.model, preprocessor)
pretrained.load_weights(model, config.model, None)
features = keras.Model(model.inputs, model.get_layer("head").input)
source = keras_hub.models.Backbone.from_preset(folder)
if task == "image":
    image = np.random.default_rng(0).random((3, 32, 32, 3), dtype=np.float32)
    ours = features({{"image": image}}).numpy()
    converter = keras_hub.layers.ImageConverter.from_preset(folder)
    theirs = source(converter(image * 255.0)).numpy().mean(axis=(1, 2))
else:
    texts = [e.text for e in load_split(config.data, "val")[:3]]
    texts += ["Ünïcode café, 中文 [CLS] tab\\tend", "x" * 150, "very " * 80, ""]
    tokens = preprocessor.encode([Example(text) for text in texts])
    keras_side = keras_hub.models.TextClassifierPreprocessor.from_preset(
        folder, sequence_length=preprocessor.max_length
    )(texts)
    assert np.array_equal(tokens["tokens"], np.asarray(keras_side["token_ids"])), "tokens differ"
    assert (tokens["tokens"][:, 0] == 2).all(), "no [CLS] first: not the model's tokenizer"
    ours = features(tokens).numpy()
    mask = np.asarray(keras_side["padding_mask"])
    states = source({{k: np.asarray(v) for k, v in keras_side.items()}})["sequence_output"]
    weights = mask[..., None].astype("float32")
    theirs = (np.asarray(states) * weights).sum(1) / weights.sum(1)
difference = np.abs(ours - theirs).max()
assert difference < 1e-5, difference
print("equal", ours.shape)
"""

# How many trainable backbone variables of each checkpoint differ from the published ones, of
# how many, and whether the head moved since the first checkpoint.
MOVED = """
import sys
from pathlib import Path
import numpy as np
from {package} import pretrained
from {package}.checkpoint import load_trained

runs = [load_trained(Path(path)) for path in sys.argv[1:]]
published = runs[0].model.get_layer("backbone")
pretrained.load_weights(runs[0].model, runs[0].config.model, None)
published = [v.numpy() for v in published.trainable_variables]
head = [run.model.get_layer("head").kernel.numpy() for run in runs[1:]]
for run in runs[2:]:
    backbone = run.model.get_layer("backbone").trainable_variables
    moved = sum(not np.array_equal(v.numpy(), p) for v, p in zip(backbone, published))
    print(moved, len(backbone), not np.array_equal(head[0], run.model.get_layer("head").kernel))
"""


def keras_hub_env() -> Env:
    """The TensorFlow environment with `requirements/pretrained.txt` on top (`--no-deps`)."""
    base = framework_env("tensorflow")
    template = Path(__file__).resolve().parents[1] / "templates" / "tensorflow"
    layer = template / "{{cookiecutter.project_slug}}" / "requirements" / "pretrained.txt"
    digest = hashlib.sha256(layer.read_bytes()).hexdigest()[:12]
    env = Env(VENVS / f"{base.root.name}-pretrained-{digest}")
    with _locked(VENVS / f"{env.root.name}.lock"):
        if not (env.root / ".complete").exists():
            version = base.root.name.split("-py", 1)[1].split("-", 1)[0]
            subprocess.run([find_python(version), "-m", "venv", str(env.root)], check=True)
            [site] = (env.root / "lib").glob("python*/site-packages")
            [base_site] = (base.root / "lib").glob("python*/site-packages")
            (site / "_framework_env.pth").write_text(f"{base_site}\n")
            pip = [str(env.python), "-m", "pip", "install", "--quiet", "--no-deps"]
            subprocess.run([*pip, "-r", str(layer)], check=True)
            (env.root / ".complete").write_text("")
    return env


@pytest.fixture(scope="module", params=["image", "text"])
def keras_hub_project(request: pytest.FixtureRequest, baked_project) -> Project:
    baked = baked_project("tensorflow", request.param)
    baked = Project(baked.path, baked.framework, baked.task, keras_hub_env())
    if not (baked.path / "data" / "sample").exists():
        baked.module("data", "sample", "--out", "data/sample")
    return baked


def publish(project: Project, folder: Path, width: int = 16) -> Path:
    """A tiny preset of the task's source model, saved as presets are published."""
    project.run(str(project.env.python), "-c", PUBLISH[project.task], str(folder), str(width))
    return folder


@pytest.fixture(scope="module")
def published(keras_hub_project: Project, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return publish(keras_hub_project, tmp_path_factory.mktemp("published") / "tiny")


def overrides(published: Path, name: str, *extra: str) -> list[str]:
    return [
        "model.backbone=keras_hub",
        f"model.pretrained={published}",
        f"run.name={name}",
        "log.every=1",
        *extra,
    ]


def test_the_loaded_backbone_equals_keras_hubs_model(
    keras_hub_project: Project, published: Path
) -> None:
    project = keras_hub_project
    script = SAME_AS_SOURCE.format(package=project.package)
    result = project.run(str(project.env.python), "-c", script, str(published), project.task)
    assert "equal (" in result.stdout and ", 16)" in result.stdout, result.stdout


def test_a_frozen_warm_start_moves_the_head_then_the_backbone_and_exports(
    keras_hub_project: Project, published: Path
) -> None:
    """Two epochs of the sample data, the backbone frozen for the first."""
    project = keras_hub_project
    args = overrides(published, "warm", "model.freeze_epochs=1", "trainer.max_epochs=2")
    project.module("train", *args, "trainer.checkpoint_every=1", "trainer.keep_checkpoints=30")
    run = project.path / "runs" / "warm"
    epoch, end = [m["step"] for m in read_metrics(run) if m["split"] == "val"]
    checkpoints = [str(run / "checkpoints" / f"ckpt-{step}") for step in (1, 1, epoch, end)]
    script = MOVED.format(package=project.package)
    result = project.run(str(project.env.python), "-c", script, *checkpoints)
    frozen, unfrozen = (line.split() for line in result.stdout.strip().splitlines())
    assert frozen[0] == "0" and frozen[2] == "True", result.stdout
    assert unfrozen[0] == unfrozen[1] and unfrozen[2] == "True", result.stdout

    record = json.loads((run / "backbone.json").read_text())
    weights = published / "model.weights.h5"
    assert record["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert record["license"] == "apache-2.0"
    assert record["source"] == str(published)
    card = (run / "report" / "model_card.md").read_text()
    assert record["sha256"] in card and "licence: apache-2.0" in card, card
    tracked = list((project.path / "runs" / "mlflow").rglob("backbone.json"))
    assert [json.loads(path.read_text()) for path in tracked] == [record], tracked

    project.module("export", "--checkpoint", str(run))
    checks = json.loads((run / "export" / "export.json").read_text())
    assert {c["format"] for c in checks} == {"savedmodel", "onnx"}, checks
    assert all(c["max_abs_diff"] <= c["tolerance"] for c in checks), checks

    port = free_port()
    server = project.popen_module("serve", "--model", str(run / "export"), "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url, server)
        status, answer = http(f"{url}/predict", {"instances": request_instances(project, 2)})
        assert status == 200 and len(answer["predictions"]) == 2, answer
    finally:
        stop(server)


def test_weights_of_another_shape_stop_with_one_line_naming_the_tensor(
    keras_hub_project: Project, published: Path, tmp_path: Path
) -> None:
    project = keras_hub_project
    wrong = publish(project, tmp_path / "wrong", width=24)
    shutil.copy(published / "config.json", wrong / "config.json")
    result = project.module("train", *overrides(wrong, "wrong", "trainer.max_steps=1"), check=False)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    # Keras names the first layer it could not fill: with its shapes for a convolution, with
    # the count of variables it found for BERT's embedding (its own loading code)
    named = {"image": "has shape", "text": "Layer 'token_embedding'"}[project.task]
    assert str(wrong / "model.weights.h5") in line and named in line, line


def test_an_unknown_preset_name_stops_with_one_line_naming_it(keras_hub_project: Project) -> None:
    project = keras_hub_project
    args = ["model.backbone=keras_hub", "model.pretrained=no_such_preset", "run.name=unknown"]
    result = project.module("train", *args, check=False)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "model.pretrained=no_such_preset" in line, line


@pytest.mark.parametrize("keras_hub_project", ["image"], indirect=True)  # the config's check
def test_pretrained_weights_need_a_pretrained_backbone(
    keras_hub_project: Project, published: Path
) -> None:
    result = keras_hub_project.module("train", f"model.pretrained={published}", check=False)
    assert result.returncode == 2
    assert "model.pretrained needs a pretrained model.backbone" in result.stderr


@pytest.mark.parametrize("keras_hub_project", ["text"], indirect=True)
def test_a_tokenizer_of_another_model_stops_with_one_line(
    keras_hub_project: Project, published: Path, tmp_path: Path
) -> None:
    project = keras_hub_project
    other = tmp_path / "other"
    shutil.copytree(published, other)
    config = json.loads((published / "config.json").read_text())
    config["config"]["vocabulary_size"] = 40
    (other / "config.json").write_text(json.dumps(config))
    result = project.module("train", *overrides(other, "other"), check=False)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert f"model.pretrained={other}" in line and "tokenizer has" in line, line
