"""Template migrations: `migrations/rename.py`, and a migration that runs once during updates."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from update_helpers import (
    ROOT,
    SHARED,
    TemplateHistory,
    cli,
    commit_all,
    generate,
    status,
    write_v1,
)

from dlstart.questions import Migration

SCRIPT = ROOT / "migrations" / "rename.py"
spec = importlib.util.spec_from_file_location("rename_migration", SCRIPT)
assert spec and spec.loader
rename = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rename)

CONFIG = """\
# Training settings
seed: 3
trainer:
  max_epochs: 50  # tuned by hand
  precision: bf16
  schedule: |
    max_epochs: this is text, not a key
  callbacks:
    - name: early_stop
      max_epochs: 9
eval:
  max_epochs: 1
"""


def test_rename_key_keeps_value_comment_and_neighbours() -> None:
    renamed = rename.rename_key(CONFIG, "trainer.max_epochs", "trainer.epochs")

    assert renamed == CONFIG.replace(
        "  max_epochs: 50  # tuned by hand", "  epochs: 50  # tuned by hand"
    )
    assert yaml.safe_load(renamed)["trainer"]["epochs"] == 50


def test_rename_key_renames_a_section() -> None:
    renamed = rename.rename_key(CONFIG, "trainer", "train")

    data = yaml.safe_load(renamed)
    assert data["train"]["max_epochs"] == 50 and "trainer" not in data


def test_rename_key_is_idempotent_and_leaves_existing_keys_alone() -> None:
    once = rename.rename_key(CONFIG, "trainer.max_epochs", "trainer.epochs")
    assert rename.rename_key(once, "trainer.max_epochs", "trainer.epochs") == once
    assert rename.rename_key(CONFIG, "trainer.max_epochs", "trainer.precision") == CONFIG


def test_text_in_a_block_scalar_is_not_a_key() -> None:
    text = "notes: |\n  max_epochs: stays text\nmax_epochs: 4\n"

    assert rename.rename_key(text, "notes.max_epochs", "notes.epochs") == text
    renamed = rename.rename_key(text, "max_epochs", "epochs")
    assert renamed == "notes: |\n  max_epochs: stays text\nepochs: 4\n"


def test_a_key_cannot_leave_its_section(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--key", "trainer.max_epochs=eval.max_epochs"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "within its section" in result.stderr
    with pytest.raises(ValueError, match="leaves its section"):
        Migration("v1.0.0", rename_keys={"trainer.max_epochs": "eval.max_epochs"})


def test_script_moves_files_and_renames_keys_in_every_config(tmp_path: Path) -> None:
    (tmp_path / "configs/nested").mkdir(parents=True)
    (tmp_path / "configs/mine.yaml").write_text(CONFIG)
    (tmp_path / "configs/nested/other.yml").write_text("trainer:\n  max_epochs: 2\n")
    (tmp_path / "src/pkg").mkdir(parents=True)
    (tmp_path / "src/pkg/model.py").write_text("mine\n")
    (tmp_path / ".copier-answers.yml").write_text("package_name: pkg\n")

    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--key",
            "trainer.max_epochs=trainer.epochs",
            "--file",
            "src/{package_name}/model.py=src/{package_name}/network.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )

    assert (tmp_path / "src/pkg/network.py").read_text() == "mine\n"
    assert not (tmp_path / "src/pkg/model.py").exists()
    assert "epochs: 2" in (tmp_path / "configs/nested/other.yml").read_text()
    assert yaml.safe_load((tmp_path / "configs/mine.yaml").read_text())["trainer"]["epochs"] == 50
    assert result.stdout.count("migration: ") == 3


@pytest.fixture(scope="module")
def renaming_history(tmp_path_factory: pytest.TempPathFactory) -> TemplateHistory:
    """v0.2.0 renames trainer.max_epochs to trainer.epochs and configs/example.yaml to
    configs/sample.yaml, with a migration; v0.3.0 changes something else."""
    history = TemplateHistory(tmp_path_factory.mktemp("renaming"))
    write_v1(history)
    history.release("v0.1.0")
    default = history.path / SHARED / "configs/default.yaml"
    default.write_text(default.read_text().replace("max_epochs:", "epochs:"))
    history.remove(f"{SHARED}/configs/example.yaml")
    history.write(f"{SHARED}/configs/sample.yaml", "trainer:\n  epochs: 3\n")
    history.add_migration(
        'Migration("v0.2.0", rename_files={"configs/example.yaml": "configs/sample.yaml"}, '
        'rename_keys={"trainer.max_epochs": "trainer.epochs"})'
    )
    history.release("v0.2.0")
    history.write(f"{SHARED}/docs/faq.md", "Q: version?\nA: three\n")
    history.release("v0.3.0")
    return history


def test_migration_runs_once_when_crossing_its_release(
    renaming_history: TemplateHistory, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    project = generate(renaming_history, tmp_path / "demo", "v0.1.0")
    (project / "configs/mine.yaml").write_text("trainer:\n  max_epochs: 40  # mine\n")
    example = project / "configs/example.yaml"
    example.write_text("trainer:\n  max_epochs: 30\n")
    commit_all(project, "my configs")
    capfd.readouterr()

    assert cli("update", project, "--template", renaming_history.path, "--to", "v0.2.0") == 0

    assert (project / "configs/mine.yaml").read_text() == "trainer:\n  epochs: 40  # mine\n"
    assert (project / "configs/sample.yaml").read_text() == "trainer:\n  epochs: 30\n"
    assert not example.exists()
    assert "trainer:\n  epochs: 10" in (project / "configs/default.yaml").read_text()
    assert "RM configs/example.yaml -> configs/sample.yaml" in status(project)
    first = capfd.readouterr().out
    assert "migration to v0.2.0: configs/mine.yaml: config key trainer.max_epochs" in first
    assert "migration to v0.2.0: configs/example.yaml -> configs/sample.yaml" in first
    commit_all(project, "update to v0.2.0")

    (project / "configs/legacy.yaml").write_text("trainer:\n  max_epochs: 5\n")
    commit_all(project, "a config in the old style, on purpose")
    assert cli("update", project, "--template", renaming_history.path) == 0

    assert (project / "docs/faq.md").read_text().endswith("A: three\n")
    assert (project / "configs/legacy.yaml").read_text() == "trainer:\n  max_epochs: 5\n"
    assert "migration to" not in capfd.readouterr().out


def test_migration_is_skipped_by_a_project_that_starts_past_it(
    renaming_history: TemplateHistory, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    project = generate(renaming_history, tmp_path / "demo", "v0.2.0")
    (project / "configs/legacy.yaml").write_text("trainer:\n  max_epochs: 5\n")
    commit_all(project)

    assert cli("update", project, "--template", renaming_history.path) == 0

    assert (project / "configs/legacy.yaml").read_text() == "trainer:\n  max_epochs: 5\n"
    assert "migration to" not in capfd.readouterr().out
