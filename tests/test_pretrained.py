"""Pretrained backbones (issue 15), offline: PyTorch image projects with a Hugging Face
transformers backbone.

No download is possible here, so the "published" weights are made by the source library: a
ResNet of the smallest configuration, random init, saved by `save_pretrained` (config.json and
model.safetensors, with its classifier) plus a preprocessor_config.json and a model card, in a
folder that `model.pretrained` points at. Checked: the loaded backbone's outputs equal the source
library's model on the same input; a run records the weights' source, SHA-256 and licence; a
frozen warm start moves the head only, then the backbone moves too; export parity holds; wrong
weights, a model name that cannot be fetched and a pretrained name without a backbone each stop
with one line naming them.

The framework environment gets `requirements/pretrained.txt` as a layer: a venv that sees the
framework environment's packages (a .pth file) and installs only what the layer adds.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from .harness import VENVS, Env, Project, _locked, find_python, framework_env, read_metrics

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("pytorch-image")]

PUBLISH = """
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
"""

# The project's model with the published weights vs the source library's own model.
SAME_AS_SOURCE = """
import sys
import torch
from transformers import AutoModel
from {package}.config import load_config
from {package}.data import Preprocessor, load_split
from {package}.model import build_model
from {package}.pretrained import load_weights

folder = sys.argv[1]
config = load_config(None, ["model.backbone=transformers", f"model.pretrained={{folder}}"])
preprocessor = Preprocessor.fit(load_split(config.data, "train"), config.data)
model = build_model(config.model, preprocessor).eval()
load_weights(model, config.model, None)
source = AutoModel.from_pretrained(folder).eval()
image = torch.rand(3, preprocessor.image_size, preprocessor.image_size, 3)
mean = torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)
std = torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
with torch.no_grad():
    ours = model.features(image)
    theirs = source(pixel_values=(image.permute(0, 3, 1, 2) - mean) / std).pooler_output.flatten(1)
difference = (ours - theirs).abs().max().item()
assert difference == 0.0, difference
print("equal", tuple(ours.shape))
"""

# How many backbone weights of each checkpoint differ from the published ones; whether the head
# moved since the first checkpoint.
MOVED = """
import sys
import torch
from safetensors.torch import load_file

published = {k.removeprefix("resnet."): v for k, v in load_file(sys.argv[1]).items()}
states = [torch.load(path, weights_only=False)["model"] for path in sys.argv[2:]]
for state in states[1:]:
    backbone = [k for k in state if k.startswith("backbone.") and k.endswith(".weight")]
    moved = sum(not torch.equal(state[k], published[k.removeprefix("backbone.")]) for k in backbone)
    head = not torch.equal(state["head.weight"], states[0]["head.weight"])
    print(f"backbone {moved} of {len(backbone)}, head {head}")
"""


def pretrained_env(framework: str) -> Env:
    """The framework environment with `requirements/pretrained.txt` on top, built on first use."""
    base = framework_env(framework)
    project = Path(__file__).resolve().parents[1] / "templates" / framework
    layer = project / "{{cookiecutter.project_slug}}" / "requirements" / "pretrained.txt"
    digest = hashlib.sha256(layer.read_bytes()).hexdigest()[:12]
    env = Env(VENVS / f"{base.root.name}-pretrained-{digest}")
    with _locked(VENVS / f"{env.root.name}.lock"):
        if not (env.root / ".complete").exists():
            version = base.root.name.split("-py", 1)[1].split("-", 1)[0]
            subprocess.run([find_python(version), "-m", "venv", str(env.root)], check=True)
            [site] = (env.root / "lib").glob("python*/site-packages")
            [base_site] = (base.root / "lib").glob("python*/site-packages")
            (site / "_framework_env.pth").write_text(f"{base_site}\n")
            subprocess.run(
                [str(env.python), "-m", "pip", "install", "--quiet", "-r", str(layer)], check=True
            )
            (env.root / ".complete").write_text("")
    return env


@pytest.fixture(scope="module")
def project(baked_project) -> Project:
    baked = baked_project("pytorch", "image")
    baked = Project(baked.path, baked.framework, baked.task, pretrained_env("pytorch"))
    if not (baked.path / "data" / "sample").is_dir():
        baked.module("data", "sample", "--out", "data/sample")
    return baked


@pytest.fixture(scope="module")
def published(project: Project, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("published") / "tiny-resnet"
    project.run(str(project.env.python), "-c", PUBLISH, str(folder), "16")
    return folder


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
    project: Project, published: Path
) -> None:
    script = SAME_AS_SOURCE.format(package=project.package)
    result = project.run(str(project.env.python), "-c", script, str(published))
    assert result.stdout.startswith("equal (3, 16)"), result.stdout


def test_a_frozen_warm_start_moves_the_head_then_the_backbone(
    project: Project, published: Path
) -> None:
    """Sample data, batch 32: 4 steps an epoch; the backbone is frozen for the first epoch."""
    args = overrides(published, "warm", "model.freeze_epochs=1", "trainer.max_steps=6")
    project.module(
        "train",
        *args,
        "data.batch_size=32",
        "trainer.checkpoint_every=1",
        "trainer.keep_checkpoints=10",
    )
    run = project.path / "runs" / "warm"
    epoch = next(m["step"] for m in read_metrics(run) if m["split"] == "val")
    assert epoch == 4
    checkpoints = [str(run / "checkpoints" / f"step_{step:06d}.pt") for step in (1, epoch, 6)]
    weights = published / "model.safetensors"
    result = project.run(str(project.env.python), "-c", MOVED, str(weights), *checkpoints)
    frozen, unfrozen = result.stdout.splitlines()
    total = int(frozen.split(" of ", 1)[1].split(",", 1)[0])
    assert total > 0 and frozen == f"backbone 0 of {total}, head True", result.stdout
    assert unfrozen == f"backbone {total} of {total}, head True", result.stdout

    record = json.loads((run / "backbone.json").read_text())
    assert record["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert record["license"] == "apache-2.0"
    assert record["source"] == str(published)
    assert record["mean"] == [0.5, 0.4, 0.3]

    project.module("export", "--checkpoint", str(run))
    checks = json.loads((run / "export" / "export.json").read_text())
    assert {c["format"] for c in checks} == {"pt2", "onnx"}
    assert all(c["max_abs_diff"] <= c["tolerance"] for c in checks), checks


def test_weights_of_another_shape_stop_with_one_line_naming_the_tensor(
    project: Project, published: Path, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong"
    project.run(str(project.env.python), "-c", PUBLISH, str(wrong), "24")
    (wrong / "config.json").write_text((published / "config.json").read_text())
    result = project.module("train", *overrides(wrong, "wrong", "trainer.max_steps=1"), check=False)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert str(wrong / "model.safetensors") in line and "has shape" in line, line


def test_a_model_name_is_fetched_only_from_the_hub_and_says_so_when_it_cannot_be(
    project: Project,
) -> None:
    args = ["model.backbone=transformers", "model.pretrained=nobody/no-such-model"]
    offline = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(project.path / "hf-home")}
    result = project.module("train", *args, "run.name=hub", check=False, extra_env=offline)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "model.pretrained=nobody/no-such-model" in line, line


def test_pretrained_weights_need_a_pretrained_backbone(project: Project, published: Path) -> None:
    result = project.module("train", f"model.pretrained={published}", check=False)
    assert result.returncode == 2
    assert "model.pretrained needs a pretrained model.backbone" in result.stderr
