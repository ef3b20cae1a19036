"""Pretrained backbones (issue 15), offline: PyTorch image and text projects with a Hugging Face
transformers backbone.

No download is possible here, so the "published" weights are made by the source library: a
ResNet (image) or BERT (text) of the smallest configuration, random init, saved by
`save_pretrained` (config.json and model.safetensors, with its classifier) with a
preprocessor_config.json or tokenizer.json and a model card, in a folder that `model.pretrained`
points at. Checked per task: the loaded backbone's outputs equal the source library's model on
the same input; a run records the weights' source, SHA-256 and licence; a frozen warm start moves
the head only, then the backbone moves too; export parity holds and the export serves; wrong
weights, a model name that cannot be fetched, a pretrained name without a backbone and (text) a
tokenizer of another model each stop with one line naming them.

The framework environment gets `requirements/pretrained.txt` as a layer: a venv that sees the
framework environment's packages (a .pth file) and installs only what the layer adds.
"""

from __future__ import annotations

import hashlib
import json
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

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("pytorch-pretrained")]

PUBLISH = {
    "image": """
import json, sys
from pathlib import Path
from transformers import ResNetConfig, ResNetForImageClassification

out, width = Path(sys.argv[1]), int(sys.argv[2])
config = ResNetConfig(
    embedding_size=8, hidden_sizes=[8, width], depths=[1, 1], layer_type="basic", num_labels=5
)
ResNetForImageClassification(config).save_pretrained(out)
preprocessing = {
    "image_mean": [0.5, 0.4, 0.3], "image_std": [0.2, 0.25, 0.3], "size": {"shortest_edge": 32}
}
(out / "preprocessor_config.json").write_text(json.dumps(preprocessing))
(out / "README.md").write_text("---\\nlicense: apache-2.0\\n---\\n# A tiny ResNet\\n")
""",
    "text": """
import sys
from pathlib import Path
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

out, width = Path(sys.argv[1]), int(sys.argv[2])
out.mkdir(parents=True)
words = "the a this that we they it was is very match team goal recipe oven cell".split()
letters = list("abcdefghijklmnopqrstuvwxyz.")
vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *letters]
vocab += [f"##{c}" for c in letters]
(out / "vocab.txt").write_text("\\n".join(vocab) + "\\n")
BertTokenizerFast(str(out / "vocab.txt"), do_lower_case=True).save_pretrained(out)
config = BertConfig(
    vocab_size=80, hidden_size=width, num_hidden_layers=1, num_attention_heads=2,
    intermediate_size=32, max_position_embeddings=64, num_labels=3,
)
BertForSequenceClassification(config).save_pretrained(out)
(out / "README.md").write_text("---\\nlicense: apache-2.0\\n---\\n# A tiny BERT\\n")
""",
}
PREFIX = {"image": "resnet.", "text": "bert."}  # of the classifier model's weight names

# The project's model with the published weights vs the source library's own model.
SAME_AS_SOURCE = """
import sys
import torch
from transformers import AutoModel
from {package}.config import load_config
from {package}.data import Preprocessor, load_split
from {package}.model import build_model
from {package} import pretrained

folder, task = sys.argv[1:]
config = load_config(None, ["model.backbone=transformers", f"model.pretrained={{folder}}"])
preprocessor = Preprocessor.fit(load_split(config.data, "train"), config.data)
if task == "text":
    preprocessor = pretrained.adapt(preprocessor, config.model)
model = build_model(config.model, preprocessor).eval()
pretrained.load_weights(model, config.model, None)
source = AutoModel.from_pretrained(folder).eval()
with torch.no_grad():
    if task == "image":
        image = torch.rand(3, preprocessor.image_size, preprocessor.image_size, 3)
        ours = model.features(image)
        mean = torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)
        std = torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
        pixels = (image.permute(0, 3, 1, 2) - mean) / std
        theirs = source(pixel_values=pixels).pooler_output.flatten(1)
    else:
        examples = load_split(config.data, "val")[:3]
        tokens = torch.from_numpy(preprocessor.encode(examples)["tokens"]).long()
        assert (tokens[:, 0] == 2).all(), "no [CLS] first: not the model's tokenizer"
        ours = model.features(tokens)
        mask = (tokens != 0).long()
        states = source(input_ids=tokens, attention_mask=mask).last_hidden_state
        theirs = (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
difference = (ours - theirs).abs().max().item()
assert difference < 1e-6, difference
print("equal", tuple(ours.shape))
"""

# How many backbone weights of each checkpoint differ from the published ones, of how many, and
# whether the head moved since the first checkpoint.
MOVED = """
import sys
import torch
from safetensors.torch import load_file

prefix = sys.argv[1]
published = {k.removeprefix(prefix): v for k, v in load_file(sys.argv[2]).items()}
states = [torch.load(path, weights_only=False)["model"] for path in sys.argv[3:]]
for state in states[1:]:
    backbone = [k for k in state if k.startswith("backbone.") and k.endswith(".weight")]
    moved = sum(not torch.equal(state[k], published[k.removeprefix("backbone.")]) for k in backbone)
    head = not torch.equal(state["head.weight"], states[0]["head.weight"])
    print(moved, len(backbone), head)
"""


def pretrained_env(framework: str) -> Env:
    """The framework environment with `requirements/pretrained.txt` on top, built on first use."""
    base = framework_env(framework)
    template = Path(__file__).resolve().parents[1] / "templates" / framework
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
            install = [str(env.python), "-m", "pip", "install", "--quiet", "-r", str(layer)]
            subprocess.run(install, check=True)
            (env.root / ".complete").write_text("")
    return env


@pytest.fixture(scope="module", params=["image", "text"])
def pretrained_project(request: pytest.FixtureRequest, baked_project) -> Project:
    baked = baked_project("pytorch", request.param)
    baked = Project(baked.path, baked.framework, baked.task, pretrained_env("pytorch"))
    if not (baked.path / "data" / "sample").exists():
        baked.module("data", "sample", "--out", "data/sample")
    return baked


def publish(project: Project, folder: Path, width: int = 16) -> Path:
    """Tiny weights of the task's source model, saved as they are published."""
    project.run(str(project.env.python), "-c", PUBLISH[project.task], str(folder), str(width))
    return folder


@pytest.fixture(scope="module")
def published(pretrained_project: Project, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return publish(pretrained_project, tmp_path_factory.mktemp("published") / "tiny")


def overrides(published: Path, name: str, *extra: str) -> list[str]:
    return [
        "model.backbone=transformers",
        f"model.pretrained={published}",
        "data.num_workers=0",
        f"run.name={name}",
        "log.every=1",
        *extra,
    ]


def test_the_loaded_backbone_equals_the_source_librarys_model(
    pretrained_project: Project, published: Path
) -> None:
    project = pretrained_project
    script = SAME_AS_SOURCE.format(package=project.package)
    result = project.run(str(project.env.python), "-c", script, str(published), project.task)
    assert result.stdout.startswith("equal (3, 16)"), result.stdout


def test_a_frozen_warm_start_moves_the_head_then_the_backbone_and_exports(
    pretrained_project: Project, published: Path
) -> None:
    """Two epochs of the sample data, the backbone frozen for the first."""
    project = pretrained_project
    args = overrides(published, "warm", "model.freeze_epochs=1", "data.batch_size=32")
    project.module(
        "train",
        *args,
        "trainer.max_epochs=2",
        "trainer.checkpoint_every=1",
        "trainer.keep_checkpoints=30",
    )
    run = project.path / "runs" / "warm"
    epoch, end = [m["step"] for m in read_metrics(run) if m["split"] == "val"]
    checkpoints = [str(run / "checkpoints" / f"step_{step:06d}.pt") for step in (1, epoch, end)]
    weights = published / "model.safetensors"
    result = project.run(
        str(project.env.python), "-c", MOVED, PREFIX[project.task], str(weights), *checkpoints
    )
    frozen, unfrozen = (line.split() for line in result.stdout.splitlines())
    assert frozen[0] == "0" and frozen[2] == "True", result.stdout
    assert int(unfrozen[0]) > int(unfrozen[1]) // 2 and unfrozen[2] == "True", result.stdout

    record = json.loads((run / "backbone.json").read_text())
    assert record["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert record["license"] == "apache-2.0"
    assert record["source"] == str(published)

    project.module("export", "--checkpoint", str(run))
    checks = json.loads((run / "export" / "export.json").read_text())
    assert {c["format"] for c in checks} == {"pt2", "onnx"}
    assert all(c["max_abs_diff"] <= c["tolerance"] for c in checks), checks

    port = free_port()
    server = project.popen_module("serve", "--model", str(run / "export"), "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url, server)
        status, answer = http(f"{url}/predict", {"instances": request_instances(project, 2)})
        assert status == 200 and len(answer["predictions"]) == 2, answer
        status, answer = http(f"{url}/predict", {"instances": [12]})
        assert status == 422, answer
    finally:
        stop(server)


def test_weights_of_another_shape_stop_with_one_line_naming_the_tensor(
    pretrained_project: Project, published: Path, tmp_path: Path
) -> None:
    project = pretrained_project
    wrong = publish(project, tmp_path / "wrong", width=24)
    (wrong / "config.json").write_text((published / "config.json").read_text())
    args = overrides(wrong, "wrong", "trainer.max_steps=1")
    result = project.module("train", *args, check=False)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert str(wrong / "model.safetensors") in line and "has shape" in line, line


def test_a_model_name_that_cannot_be_fetched_stops_with_one_line_naming_it(
    pretrained_project: Project,
) -> None:
    project = pretrained_project
    args = ["model.backbone=transformers", "model.pretrained=nobody/no-such-model"]
    offline = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(project.path / "hf-home")}
    result = project.module("train", *args, "run.name=hub", check=False, extra_env=offline)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "model.pretrained=nobody/no-such-model" in line, line


def test_pretrained_weights_need_a_pretrained_backbone(
    pretrained_project: Project, published: Path
) -> None:
    project = pretrained_project
    result = project.module("train", f"model.pretrained={published}", check=False)
    assert result.returncode == 2
    assert "model.pretrained needs a pretrained model.backbone" in result.stderr


@pytest.mark.parametrize("pretrained_project", ["text"], indirect=True)
def test_a_tokenizer_of_another_model_stops_with_one_line(
    pretrained_project: Project, published: Path, tmp_path: Path
) -> None:
    project = pretrained_project
    other = tmp_path / "other"
    other.mkdir()
    for path in published.iterdir():
        (other / path.name).write_bytes(path.read_bytes())
    config = json.loads((published / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "vocab_size": 40}))
    result = project.module("train", *overrides(other, "other"), check=False)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert f"model.pretrained={other}" in line and "tokenizer has" in line, line
