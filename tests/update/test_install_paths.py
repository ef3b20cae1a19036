"""Every install path makes projects `dlstart update` can update: a checkout without tags (its
commits are versions), an installed wheel or git URL (no git repository: the version of the
package), and template changes nobody committed (warned about, still updatable here)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from update_helpers import (
    PYTORCH,
    SETUP_V1,
    SETUP_V2,
    SHARED,
    TemplateHistory,
    cli,
    commit_all,
    run_git,
    status,
    write_v1,
    write_v2,
)

from dlstart import template_source
from dlstart.errors import Exit

NEW = ("--yes", "--framework", "pytorch", "--task", "image", "--hardware", "cpu")


def recorded(project: Path) -> str:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"]


def head(repo: Path) -> str:
    return run_git("rev-parse", "--short=7", "HEAD", cwd=repo).strip()


@pytest.fixture
def untagged(tmp_path: Path) -> TemplateHistory:
    """A fresh clone of the templates: two commits, no tag."""
    repo = TemplateHistory(tmp_path / "clone")
    repo.commit("the machinery")
    write_v1(repo)
    repo.commit("v1 of the docs")
    return repo


def test_a_checkout_without_tags_makes_updatable_projects(
    untagged: TemplateHistory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """dlstart run from the clone (an editable install) generates and updates; then a new
    commit of the clone comes in, through --template as well."""
    own_root = template_source.template_root
    monkeypatch.setattr(template_source, "template_root", lambda: untagged.path)
    project = tmp_path / "demo"
    assert cli("new", project, *NEW) == Exit.OK
    first = f"v0.1.0.post2+g{head(untagged.path)}"
    assert recorded(project) == first
    assert "warning" not in capsys.readouterr().err

    assert cli("update", project, "--check") == Exit.OK
    assert cli("update", project) == Exit.OK
    assert "up to date" in capsys.readouterr().out

    code = cli("update", project, "--data", "hardware=cluster", "--data", "num_nodes=3")
    assert code == Exit.OK
    assert (project / "scripts/slurm.sbatch").read_text().startswith("#SBATCH --nodes=3\n")
    commit_all(project, "a cluster")
    docs = project / "docs/setup.md"
    docs.write_text(docs.read_text().replace("setup step 2\n", "setup step 2, mine\n"))
    commit_all(project, "my edit")

    write_v2(untagged)
    untagged.commit("v2 of the docs")
    second = f"v0.1.0.post3+g{head(untagged.path)}"
    assert cli("update", project, "--check") == Exit.UPDATE_AVAILABLE
    assert f"{second} is available" in capsys.readouterr().out
    monkeypatch.setattr(template_source, "template_root", own_root)  # through --template now
    assert cli("update", project, "--template", untagged.path) == Exit.OK
    assert recorded(project) == second
    text = docs.read_text()
    assert "setup step 2, mine\n" in text and "setup step 10, improved in v2\n" in text
    assert f"from template {first} to {second}" in capsys.readouterr().out


def test_uncommitted_template_changes_are_warned_about_and_still_updatable(
    untagged: TemplateHistory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = untagged.path / PYTORCH / "docs/setup.md"
    setup.write_text(SETUP_V1.replace("setup step 1\n", "setup step 1, uncommitted\n"))
    project = tmp_path / "demo"
    assert cli("new", project, *NEW, "--template", untagged.path) == Exit.OK
    assert "setup step 1, uncommitted\n" in (project / "docs/setup.md").read_text()
    version = recorded(project)
    assert version.startswith(f"v0.1.0.post2+g{head(untagged.path)}.d")
    err = capsys.readouterr().err
    assert "uncommitted changes" in err and "docs/setup.md" in err and version in err

    (untagged.path / SHARED / "docs/setup.md").write_text(SETUP_V2)  # the source of the copy
    untagged.commit("v2 setup")
    assert cli("update", project, "--template", untagged.path) == Exit.OK
    assert (project / "docs/setup.md").read_text() == SETUP_V2
    assert recorded(project) == f"v0.1.0.post3+g{head(untagged.path)}"


@pytest.fixture
def installed(untagged: TemplateHistory, tmp_path: Path, monkeypatch) -> Path:
    """The template root as a wheel (or a pip install from a git URL) installs it: the same
    files, no git repository, the package's version."""
    root = tmp_path / "site-packages" / "dlstart" / "template_root"
    shutil.copytree(untagged.path, root, ignore=shutil.ignore_patterns(".git", "src", "tools"))
    monkeypatch.setattr(template_source, "template_root", lambda: root)
    monkeypatch.setattr(template_source, "__version__", "1.0.0")
    return root


def test_an_installed_release_updates_to_the_next_one(
    installed: Path, tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "demo"
    assert cli("new", project, *NEW) == Exit.OK
    assert recorded(project) == "v1.0.0"
    assert cli("update", project, "--check") == Exit.OK

    (installed / PYTORCH / "docs/setup.md").write_text(SETUP_V2)
    monkeypatch.setattr(template_source, "__version__", "1.1.0")
    assert cli("update", project, "--check") == Exit.UPDATE_AVAILABLE
    assert cli("update", project) == Exit.OK
    assert recorded(project) == "v1.1.0"
    assert (project / "docs/setup.md").read_text() == SETUP_V2
    assert "from template v1.0.0 to v1.1.0" in capsys.readouterr().out
    assert status(project) != []


def test_adopt_of_a_cookiecutter_bake_from_an_untagged_checkout(
    untagged: TemplateHistory, tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cookiecutter.main import cookiecutter

    baked = Path(
        cookiecutter(
            str(untagged.path / "templates/pytorch"),
            no_input=True,
            output_dir=str(tmp_path),
            extra_context={"project_name": "Baked"},
        )
    )
    assert cli("adopt", baked, "--template", untagged.path) == Exit.OK
    assert recorded(baked) == f"v0.1.0.post2+g{head(untagged.path)}"
    commit_all(baked, "adopt")
    write_v2(untagged)
    untagged.commit("v2")
    assert cli("update", baked, "--template", untagged.path) == Exit.OK
    assert (baked / "docs/faq.md").read_text().endswith("A: two\n")
