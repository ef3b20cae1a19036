"""`dlstart update`: the three-way merge, its refusals, `--check`, and answer changes."""

from __future__ import annotations

from pathlib import Path

import copier
import pytest
import yaml
from update_helpers import (
    SETUP_V1,
    TRAIN_V1,
    TemplateHistory,
    cli,
    commit_all,
    generate,
    run_git,
    snapshot,
    status,
)

from dlstart.errors import Exit
from dlstart.questions import CANONICAL_TEMPLATE_URL

MODEL = "src/demo/model.py"


def answers(project: Path) -> dict:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_update_merges_template_changes_and_keeps_user_edits(
    project: Path, history: TemplateHistory, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(project / "docs/setup.md", "setup step 2\n", "setup step 2, my way\n")
    edit(project / "docs/train.md", "train line 3\n", "train line 3, as I need it\n")
    (project / MODEL).write_text("class Model:\n    layers = 12  # tuned\n")
    (project / "docs/legacy.md").write_text("How I still do things.\n")
    commit_all(project, "my edits")

    assert cli("update", project, "--template", history.path) == Exit.CONFLICTS

    assert (project / "docs/legacy.md").read_text() == "How I still do things.\n"
    assert not (project / "docs/obsolete.md").exists()

    assert (project / "docs/faq.md").read_text() == "Q: version?\nA: two\n"
    setup = (project / "docs/setup.md").read_text()
    assert "setup step 2, my way\n" in setup
    assert "setup step 10, improved in v2\n" in setup
    train = (project / "docs/train.md").read_text()
    assert "<<<<<<< before updating\ntrain line 3, as I need it\n" in train
    assert "train line 3 as v2 has it\n>>>>>>> after updating" in train
    assert "UU docs/train.md" in status(project)
    assert (project / MODEL).read_text() == "class Model:\n    layers = 12  # tuned\n"
    assert not any(line.endswith(MODEL) for line in status(project))
    recorded = (project / ".copier-answers.yml").read_text()
    assert yaml.safe_load(recorded)["_commit"] == "v0.2.0"
    assert f"_src_path: {CANONICAL_TEMPLATE_URL}\n" in recorded
    assert str(history.path) not in recorded
    out = capsys.readouterr().out
    assert "from template v0.1.0 to v0.2.0" in out
    assert "conflict  docs/train.md" in out
    assert "modified  docs/faq.md" in out
    assert "deleted   docs/obsolete.md" in out
    assert "Kept docs/legacy.md: v0.2.0 no longer ships it, but you had edited it." in out
    assert "1 to resolve before committing:\n  docs/train.md: conflict markers\n" in out


def test_untouched_project_takes_the_new_release_whole(
    project: Path, history: TemplateHistory, tmp_path: Path
) -> None:
    assert cli("update", project, "--template", history.path) == 0

    fresh = generate(history, tmp_path / "fresh" / "demo", "v0.2.0")
    mine, theirs = snapshot(project), snapshot(fresh)
    # User-owned files stay as generated: the model, and a config v0.2.0 no longer ships.
    assert mine.pop(MODEL) == b"class Model:\n    layers = 1\n"
    assert mine.pop("configs/example.yaml") == b"trainer:\n  max_epochs: 3\n"
    theirs.pop(MODEL)
    assert mine == theirs


def test_user_owned_file_dropped_by_the_template_is_kept(
    project: Path, history: TemplateHistory, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(project / "configs/example.yaml", "max_epochs: 3", "max_epochs: 30")
    commit_all(project)

    assert cli("update", project, "--template", history.path) == 0

    assert (project / "configs/example.yaml").read_text() == "trainer:\n  max_epochs: 30\n"
    assert not any("example.yaml" in line for line in status(project))
    assert "Kept configs/example.yaml" in capsys.readouterr().out


def test_dirty_tree_is_refused_and_nothing_changes(
    project: Path, history: TemplateHistory, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(project / "docs/setup.md", "setup step 1\n", "uncommitted\n")
    (project / "notes.txt").write_text("not added yet\n")
    before = snapshot(project)

    assert cli("update", project, "--template", history.path) == Exit.REFUSED

    assert snapshot(project) == before
    err = capsys.readouterr().err
    assert "uncommitted changes" in err
    assert "docs/setup.md" in err and "notes.txt" in err


def test_check_exit_codes(
    project: Path, history: TemplateHistory, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("update", project, "--check", "--template", history.path) == Exit.UPDATE_AVAILABLE
    assert "v0.2.0 is available" in capsys.readouterr().out

    assert cli("update", project, "--template", history.path) == 0
    commit_all(project, "update")
    assert cli("update", project, "--check", "--template", history.path) == 0
    assert "up to date: template v0.2.0, latest v0.2.0" in capsys.readouterr().out


def test_answer_change_regenerates_what_depends_on_it(
    history: TemplateHistory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = generate(history, tmp_path / "demo", "v0.2.0", hardware="gpu")
    assert not (project / "scripts/slurm.sbatch").exists()

    code = cli(
        "update",
        project,
        "--template",
        history.path,
        "--data",
        "hardware=cluster",
        "--data",
        "num_nodes=4",
        "--data",
        "gpus_per_node=2",
    )

    assert code == 0
    assert (project / "scripts/slurm.sbatch").read_text() == (
        "#SBATCH --nodes=4\n#SBATCH --gpus-per-node=2\n"
    )
    recorded = answers(project)
    assert (recorded["hardware"], recorded["num_nodes"], recorded["_commit"]) == (
        "cluster",
        4,
        "v0.2.0",
    )
    assert "Regenerated demo at template v0.2.0" in capsys.readouterr().out
    assert "?? scripts/slurm.sbatch" in status(project)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("framework=jax", "dlstart new"),
        ("package_name=other", "git mv src/demo src/other"),
        ("hardware=tpu", "the pytorch template offers cpu, gpu"),
        ("num_nodes=many", "whole number"),
        ("colour=blue", "unknown question"),
    ],
)
def test_answer_changes_that_are_refused(
    project: Path,
    history: TemplateHistory,
    capsys: pytest.CaptureFixture[str],
    data: str,
    message: str,
) -> None:
    before = snapshot(project)
    assert cli("update", project, "--template", history.path, "--data", data) == Exit.USAGE
    assert message in capsys.readouterr().err
    assert snapshot(project) == before


def test_unknown_version_and_downgrade_are_refused(
    history: TemplateHistory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = generate(history, tmp_path / "demo", "v0.2.0")
    before = snapshot(project)

    assert cli("update", project, "--template", history.path, "--to", "v9.9.9") == Exit.REFUSED
    assert "unknown template version 'v9.9.9'" in capsys.readouterr().err
    assert cli("update", project, "--template", history.path, "--to", "0.1.0") == Exit.REFUSED
    assert "downgrades are not supported" in capsys.readouterr().err
    assert cli("update", project, "--template", history.path, "--to", "0.2.0") == 0
    assert "up to date with template v0.2.0" in capsys.readouterr().out
    assert snapshot(project) == before


def test_release_missing_from_the_template_repository_is_refused(
    project: Path, history: TemplateHistory, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(project / ".copier-answers.yml", "_commit: v0.1.0", "_commit: v0.1.5")
    commit_all(project)
    before = snapshot(project)

    assert cli("update", project, "--template", history.path) == Exit.REFUSED

    assert "template version v0.1.5 is in neither the checkout" in capsys.readouterr().err
    assert snapshot(project) == before


def test_what_is_not_an_updatable_project_is_refused(
    history: TemplateHistory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert cli("update", plain, "--template", history.path) == Exit.REFUSED
    assert "not a dlstart project" in capsys.readouterr().err

    (plain / ".copier-answers.yml").write_text("# Baked by cookiecutter\n")
    assert cli("update", plain, "--template", history.path) == Exit.REFUSED
    assert "dlstart adopt" in capsys.readouterr().err

    assert cli("update", plain, "--template", tmp_path) == Exit.USAGE
    assert "no copier.yml at the root of" in capsys.readouterr().err


def test_unreachable_template_repository_says_what_to_do(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(
        project / ".copier-answers.yml",
        "_src_path: https://github.com/dlstart/dlstart.git",
        "_src_path: https://127.0.0.1:9/dlstart.git",
    )
    commit_all(project)

    assert cli("update", project, "--check") == Exit.FAILED

    err = capsys.readouterr().err
    assert "cannot reach the template repository https://127.0.0.1:9/dlstart.git" in err
    assert "--template" in err


def test_failed_update_puts_the_project_back(
    project: Path,
    history: TemplateHistory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = snapshot(project)
    real_update = copier.run_update

    def update_then_fail(*args: object, **kwargs: object) -> None:
        real_update(*args, **kwargs)
        raise copier.errors.UserMessageError("simulated failure after the merge")

    monkeypatch.setattr(copier, "run_update", update_then_fail)

    assert cli("update", project, "--template", history.path) == Exit.FAILED

    assert "simulated failure" in capsys.readouterr().err
    assert snapshot(project) == before
    assert status(project) == []


def test_project_in_a_subfolder_of_a_repository(history: TemplateHistory, tmp_path: Path) -> None:
    monorepo = tmp_path / "mono"
    monorepo.mkdir()
    run_git("init", "--quiet", cwd=monorepo)
    (monorepo / "README").write_text("several projects\n")
    project = generate(history, monorepo / "models" / "demo", "v0.1.0")
    edit(project / "docs/setup.md", "setup step 2\n", "setup step 2, mine\n")
    commit_all(monorepo)

    assert cli("update", project, "--template", history.path) == 0

    assert "setup step 2, mine\n" in (project / "docs/setup.md").read_text()
    assert (project / "docs/faq.md").read_text().endswith("A: two\n")
    assert (project / "docs/train.md").read_text() != TRAIN_V1
    assert SETUP_V1 not in (project / "docs/setup.md").read_text()


def test_every_file_left_with_markers_or_a_rej_is_named(tmp_path: Path) -> None:
    from dlstart.git import Change
    from dlstart.project import Project
    from dlstart.update import unresolved

    (tmp_path / "a.py").write_text(
        "<<<<<<< before updating\nx\n=======\ny\n>>>>>>> after updating\n"
    )
    (tmp_path / "b.py.rej").write_text("@@ -1 +1 @@\n-x\n+y\n")
    (tmp_path / "c.py").write_text("print('<<<<<<< in a string')\n")
    changes = [Change(" M", "a.py"), Change("??", "b.py.rej"), Change(" M", "c.py")]
    changes.append(Change(" D", "gone.py"))

    found = unresolved(Project(tmp_path, {}), changes)

    assert found == {
        "a.py": "conflict markers",
        "b.py.rej": "rejected changes (.rej): apply them by hand, then delete it",
    }
