"""Notices: what an update cannot bring (the template's new version of a user-owned file) is
printed once, when `dlstart update` crosses the release that ships it, and added to the project's
UPDATE-NOTES.md; projects made at or after that release never see it. These histories keep the
real `MIGRATIONS`, so the notice tested is the one that ships."""

from __future__ import annotations

import os
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
    write_v2,
)

from dlstart import __version__, template_source
from dlstart.errors import Exit
from dlstart.questions import MIGRATIONS, NOTES_FILE, Migration
from dlstart.update import new_notices

NEW = ("--yes", "--framework", "pytorch", "--task", "image", "--hardware", "cpu")
HEADING = "## Template v0.2.0"
SAID = "src/demo/model.py is yours"


def recorded(project: Path) -> str:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"]


def test_this_release_ships_the_model_notice() -> None:
    """The notice names model.py, in the release this package version is: projects made by an
    earlier dlstart (v0.1.0, v0.1.0.post<N>+g...) cross it, projects made by this one do not."""
    (notice,) = [m for m in MIGRATIONS if "model.py" in m.notice]
    assert notice.version == f"v{__version__}" == "v0.2.0"
    with pytest.raises(ValueError, match="Jinja"):
        Migration("v1.0.0", notice="see {{ package_name }}")


def test_new_notices_are_the_sections_the_update_appended() -> None:
    old = "# Update notes\n\n## Template v0.2.0\n\nold one\n"
    new = old + "\n## Template v0.3.0\n\nfirst\n\n## Template v0.3.0\n\nsecond\n"
    assert new_notices(old, new) == ["## Template v0.3.0\n\nfirst", "## Template v0.3.0\n\nsecond"]
    assert new_notices(old, old) == []
    assert new_notices("", old) == ["## Template v0.2.0\n\nold one"]
    assert new_notices(old + "\n\n", new) == new_notices(old, new)  # the script strips the end


def test_notice_script_under_plain_copier_prints_and_writes_once(tmp_path: Path) -> None:
    (tmp_path / ".copier-answers.yml").write_text("framework: jax\npackage_name: demo\n")
    run = [sys.executable, str(ROOT / "migrations/notice.py"), "--notes", NOTES_FILE]
    text = "src/{package_name}/model.py changed in {framework}; {other} stays."
    env = {**os.environ, "VERSION_CURRENT": "v9.0.0"}
    env.pop("DLSTART_UPDATE", None)
    outs = [
        subprocess.run([*run, text], cwd=tmp_path, env=env, capture_output=True, text=True).stdout
        for _ in range(2)
    ]
    note = "## Template v9.0.0\n\nsrc/demo/model.py changed in jax; {other} stays.\n"
    assert note in outs[0] and outs[1] == ""
    assert (tmp_path / NOTES_FILE).read_text().count(note) == 1


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> TemplateHistory:
    """Tags v0.1.0, v0.2.0 (the notice's release) and v0.3.0, with the real migrations."""
    history = TemplateHistory(tmp_path_factory.mktemp("released"), real_migrations=True)
    write_v1(history)
    history.release("v0.1.0")
    write_v2(history)
    history.release("v0.2.0")
    history.write(f"{SHARED}/docs/faq.md", "Q: version?\nA: three\n")
    history.release("v0.3.0")
    return history


def test_notice_is_printed_and_written_once_when_crossing_its_release(
    released: TemplateHistory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = generate(released, tmp_path / "demo", "v0.1.0")
    notes = project / NOTES_FILE
    capsys.readouterr()

    assert cli("update", project, "--template", released.path, "--to", "v0.2.0") == Exit.OK

    out = capsys.readouterr().out
    assert "Template v0.2.0:" in out and SAID in out and NOTES_FILE in out
    assert out.index(SAID) > out.index("added     UPDATE-NOTES.md")  # after the merge's summary
    text = notes.read_text()
    assert text.startswith("# Update notes\n") and text.count(HEADING) == 1
    assert SAID in text and "--framework pytorch --task image" in text
    assert f"?? {NOTES_FILE}" in status(project)
    commit_all(project, "update to v0.2.0, with its notes")

    assert cli("update", project, "--template", released.path) == Exit.OK

    assert (project / "docs/faq.md").read_text().endswith("A: three\n")
    assert notes.read_text() == text
    out = capsys.readouterr().out
    assert "Template v0.2.0" not in out and "Not changed for you" not in out


def test_notice_is_not_shown_to_a_project_made_at_its_release(
    released: TemplateHistory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = generate(released, tmp_path / "demo", "v0.2.0")

    assert cli("update", project, "--template", released.path) == Exit.OK

    assert (project / "docs/faq.md").read_text().endswith("A: three\n")
    assert not (project / NOTES_FILE).exists()
    assert "Not changed for you" not in capsys.readouterr().out


def test_a_checkout_without_tags_crosses_the_notice_when_its_package_version_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """How this repository ships it: no tag, `__version__` bumped to 0.2.0 in the commit that
    adds the notice. A project made before (v0.1.0.post1+g...) sees it once; a project made
    after (v0.2.0.post2+g..., above v0.2.0) never does. (The test above covers "once".)"""
    history = TemplateHistory(tmp_path / "clone", real_migrations=True)
    write_v1(history)
    history.commit("before the notice")
    monkeypatch.setattr(template_source, "template_root", lambda: history.path)
    before = tmp_path / "before"
    assert cli("new", before, *NEW) == Exit.OK
    assert recorded(before).startswith("v0.1.0.post1+g")

    history.set_package_version("0.2.0")
    history.commit("the notice, in 0.2.0")
    after = tmp_path / "after"
    assert cli("new", after, *NEW) == Exit.OK
    assert recorded(after).startswith("v0.2.0.post2+g")
    capsys.readouterr()
    assert cli("update", before) == Exit.OK
    assert SAID.replace("demo", "before") in capsys.readouterr().out
    assert (before / NOTES_FILE).read_text().count(HEADING) == 1
    commit_all(before, "update, with its notes")

    write_v2(history)
    history.commit("a later commit")
    assert cli("update", after) == Exit.OK
    assert recorded(after).startswith("v0.2.0.post3+g")
    assert not (after / NOTES_FILE).exists()
    assert "Not changed for you" not in capsys.readouterr().out
