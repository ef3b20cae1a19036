"""`dlstart adopt`: a project baked with plain cookiecutter becomes updatable."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cookiecutter.main import cookiecutter
from update_helpers import TemplateHistory, cli, commit_all, generate, run_git, status

from dlstart.errors import Exit
from dlstart.questions import CANONICAL_TEMPLATE_URL


def bake(history: TemplateHistory, version: str, dest: Path, **answers: str) -> Path:
    """Bake with plain cookiecutter from a checkout of `version` (its hooks: git init, commit)."""
    checkout = dest / f"dlstart-{version}"
    run_git("worktree", "add", "--quiet", "--detach", str(checkout), version, cwd=history.path)
    try:
        baked = cookiecutter(
            str(checkout / "templates/pytorch"),
            no_input=True,
            output_dir=str(dest),
            extra_context={"project_name": "Baked", **answers},
        )
    finally:
        run_git("worktree", "remove", "--force", str(checkout), cwd=history.path)
    return Path(baked)


def answers(project: Path) -> dict:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


def test_adopt_detects_the_release_then_update_works(
    history: TemplateHistory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = bake(history, "v0.1.0", tmp_path, task="text")
    setup = project / "docs/setup.md"
    setup.write_text(setup.read_text().replace("setup step 2\n", "setup step 2, mine\n"))
    commit_all(project, "my edit")

    assert cli("adopt", project, "--template", history.path) == 0
    recorded = answers(project)
    assert recorded["_commit"] == "v0.1.0"
    assert recorded["_src_path"] == CANONICAL_TEMPLATE_URL
    assert (recorded["framework"], recorded["task"], recorded["project_name"]) == (
        "pytorch",
        "text",
        "Baked",
    )
    out = capsys.readouterr().out
    assert "Adopted baked as template v0.1.0" in out
    assert "1 differ (your edits, kept): docs/setup.md" in out
    commit_all(project, "adopt")

    assert cli("update", project, "--template", history.path) == 0
    assert answers(project)["_commit"] == "v0.2.0"
    assert (project / "docs/faq.md").read_text().endswith("A: two\n")
    text = setup.read_text()
    assert "setup step 2, mine\n" in text and "setup step 10, improved in v2\n" in text


def test_adopt_placeholder_without_answers_needs_the_structural_ones(
    history: TemplateHistory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = bake(history, "v0.2.0", tmp_path, hardware="gpu")
    placeholder = "# Baked by cookiecutter: run `dlstart adopt` to record the answers.\n"
    (project / ".copier-answers.yml").write_text(placeholder)

    assert cli("adopt", project, "--template", history.path) == Exit.USAGE
    err = capsys.readouterr().err
    assert "--data framework=... --data task=... --data hardware=..." in err
    assert (project / ".copier-answers.yml").read_text() == placeholder

    code = cli(
        "adopt",
        project,
        "--template",
        history.path,
        "--version",
        "0.2.0",
        "--data",
        "framework=pytorch",
        "--data",
        "task=image",
        "--data",
        "hardware=gpu",
        "--data",
        "project_name=Baked",
    )
    assert code == 0
    recorded = answers(project)
    assert (recorded["_commit"], recorded["hardware"], recorded["package_name"]) == (
        "v0.2.0",
        "gpu",
        "baked",
    )
    assert "Assumed the defaults for description" in capsys.readouterr().out
    commit_all(project, "adopt")
    assert cli("update", project, "--check", "--template", history.path) == 0


def test_adopt_refuses_a_project_that_records_its_release(
    history: TemplateHistory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = generate(history, tmp_path / "demo", "v0.1.0")
    before = (project / ".copier-answers.yml").read_text()

    assert cli("adopt", project, "--template", history.path) == Exit.REFUSED

    assert "already records template v0.1.0" in capsys.readouterr().err
    assert (project / ".copier-answers.yml").read_text() == before
    assert status(project) == []


def test_adopt_refuses_what_the_template_does_not_match(
    history: TemplateHistory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "main.py").write_text("print('not from dlstart')\n")

    code = cli(
        "adopt",
        other,
        "--template",
        history.path,
        "--data",
        "framework=pytorch",
        "--data",
        "task=image",
        "--data",
        "hardware=cpu",
    )

    assert code == Exit.REFUSED
    assert "no file of the template matches" in capsys.readouterr().err
    assert sorted(p.name for p in other.iterdir()) == ["main.py"]


def test_adopt_reads_cookiecutters_comma_separated_targets(
    history: TemplateHistory, tmp_path: Path
) -> None:
    project = bake(history, "v0.2.0", tmp_path, goal="mobile", deploy="mobile,api")
    assert (project / "src/baked/serve.py").is_file()
    assert cli("adopt", project, "--template", history.path) == 0
    recorded = answers(project)
    assert (recorded["goal"], recorded["deploy"]) == ("mobile", ["api", "mobile"])
