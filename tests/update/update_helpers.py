"""Helpers for the tests of `dlstart update`, `adopt` and migrations: a throwaway template
repository with a release history, and projects generated from it.

The repository is a copy of the real template machinery (root copier.yml, hooks/, migrations/,
templates/_shared and templates/pytorch, and the questions and sync tool that write copier.yml);
each release edits files under the template and runs the real sync tool before tagging. A history
starts at package version 0.1.0 without migrations, whatever the real ones are (its releases are
its own); a test adds the migrations it needs, or keeps the real ones (`real_migrations`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from dlstart.cli import main as dlstart
from dlstart.generate import generate as render
from dlstart.template_source import Source, load_hooks

ROOT = Path(__file__).resolve().parents[2]
COPIED = (
    "copier.yml",
    "hooks",
    "migrations",
    "templates/_shared",
    "templates/pytorch",
    "src/dlstart/__init__.py",
    "src/dlstart/errors.py",
    "src/dlstart/questions.py",
    "src/dlstart/recommender.py",
    "tools/sync_templates.py",
)
SHARED = "templates/_shared/{{cookiecutter.project_slug}}"
PYTORCH = "templates/pytorch/{{cookiecutter.project_slug}}"
MODEL = PYTORCH + "/src/{{cookiecutter.package_name}}/model.py"

SETUP_V1 = "".join(f"setup step {i}\n" for i in range(1, 13))
SETUP_V2 = SETUP_V1.replace("setup step 10\n", "setup step 10, improved in v2\n")
TRAIN_V1 = "".join(f"train line {i}\n" for i in range(1, 7))
TRAIN_V2 = TRAIN_V1.replace("train line 3\n", "train line 3 as v2 has it\n")
DEFAULT_CONFIG = """\
# Every knob, commented.
seed: 0
trainer:
  max_epochs: 10  # full passes over the training data
  precision: fp32
"""
SLURM = (
    "#SBATCH --nodes={{ cookiecutter.num_nodes }}\n"
    "#SBATCH --gpus-per-node={{ cookiecutter.gpus_per_node }}\n"
)
SLURM_PATH = SHARED + "/scripts/{% if cookiecutter.hardware == 'cluster' %}slurm.sbatch{% endif %}"


def run_git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


class TemplateHistory:
    """A git repository of the templates whose releases the tests write one by one."""

    def __init__(self, path: Path, *, real_migrations: bool = False) -> None:
        self.path = path
        for relative in COPIED:
            source, target = ROOT / relative, path / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(
                    source, target, symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
                )
            else:
                shutil.copy2(source, target)
        run_git("init", "--quiet", "--initial-branch=main", cwd=path)
        self.set_package_version("0.1.0")
        if not real_migrations:
            self.add_migration("")

    def set_package_version(self, version: str) -> None:
        """The `__version__` a checkout of the history declares (its untagged commits count
        from it)."""
        self.write("src/dlstart/__init__.py", f'__version__ = "{version}"\n')

    def write(self, relative: str, text: str) -> None:
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def remove(self, relative: str) -> None:
        (self.path / relative).unlink()

    def add_migration(self, code: str) -> None:
        """Register a migration as a template author does: in questions.py, then sync ("" for
        none)."""
        questions = self.path / "src/dlstart/questions.py"
        entries = f"({code},)" if code else "()"
        questions.write_text(questions.read_text() + f"\nMIGRATIONS = {entries}\n")

    def commit(self, message: str) -> None:
        """Sync the generated parts, then commit everything (no tag)."""
        subprocess.run(
            [sys.executable, "tools/sync_templates.py"],
            cwd=self.path,
            check=True,
            capture_output=True,
        )
        run_git("add", "--all", cwd=self.path)
        run_git("commit", "--quiet", "--message", message, cwd=self.path)

    def release(self, tag: str) -> None:
        self.commit(f"Release {tag}")
        run_git("tag", tag, cwd=self.path)


def write_v1(history: TemplateHistory) -> None:
    history.write(f"{SHARED}/docs/setup.md", SETUP_V1)
    history.write(f"{SHARED}/docs/train.md", TRAIN_V1)
    history.write(f"{SHARED}/docs/faq.md", "Q: version?\nA: one\n")
    history.write(f"{SHARED}/docs/legacy.md", "How things were done in v1.\n")
    history.write(f"{SHARED}/docs/obsolete.md", "Soon gone.\n")
    history.write(f"{SHARED}/configs/default.yaml", DEFAULT_CONFIG)
    history.write(f"{SHARED}/configs/example.yaml", "trainer:\n  max_epochs: 3\n")
    history.write(SLURM_PATH, SLURM)
    history.write(MODEL, "class Model:\n    layers = 1\n")


def write_v2(history: TemplateHistory) -> None:
    history.write(f"{SHARED}/docs/setup.md", SETUP_V2)
    history.write(f"{SHARED}/docs/train.md", TRAIN_V2)
    history.write(f"{SHARED}/docs/faq.md", "Q: version?\nA: two\n")
    history.remove(f"{SHARED}/configs/example.yaml")
    history.remove(f"{SHARED}/docs/legacy.md")
    history.remove(f"{SHARED}/docs/obsolete.md")
    history.write(MODEL, "class Model:\n    layers = 2  # v2\n")


def generate(history: TemplateHistory, dest: Path, version: str, **answers: object) -> Path:
    """Generate a project from `version` of the history the way `dlstart new` does: render
    through copier, then the post-generation hook (git init, first commit)."""
    data = {"framework": "pytorch", "project_name": "Demo", **answers}
    render(Source(str(history.path), version), dest, data, first_commit=None)
    load_hooks().init_git(dest)
    return dest


def commit_all(project: Path, message: str = "work") -> None:
    run_git("add", "--all", cwd=project)
    run_git("commit", "--quiet", "--message", message, cwd=project)


def status(project: Path) -> list[str]:
    return run_git("status", "--porcelain", "--untracked-files=all", cwd=project).splitlines()


def snapshot(project: Path) -> dict[str, bytes]:
    """Every file of the project outside .git, with its content."""
    return {
        p.relative_to(project).as_posix(): p.read_bytes()
        for p in project.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(project).parts
    }


def cli(*args: str | Path) -> int:
    return dlstart([str(a) for a in args])
