"""Deployment targets on an existing project: `dlstart update --data goal=...` or `deploy=...`
adds a target's files and keeps the user's edits; bad values change nothing; a project made
before `deploy` existed keeps its API server."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from update_helpers import SHARED, TemplateHistory, cli, commit_all, generate, snapshot

from dlstart.errors import Exit

SERVE = "src/demo/serve.py"
# A stand-in for the browser target's files: a folder of conditionally named files, as `web/` is.
WEB_PAGE = SHARED + '/web/{% if "browser" in cookiecutter.deploy %}index.html{% endif %}'


@pytest.fixture(scope="module")
def web_history(tmp_path_factory: pytest.TempPathFactory) -> TemplateHistory:
    repo = TemplateHistory(tmp_path_factory.mktemp("templates"))
    repo.write(WEB_PAGE, "<title>{{ cookiecutter.project_name }}</title>\n")
    repo.release("v0.1.0")
    return repo


def answers(project: Path) -> dict:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


def edit_makefile(project: Path) -> str:
    line = "\nmine:  ## a target of my own\n\techo mine\n"
    with (project / "Makefile").open("a") as makefile:
        makefile.write(line)
    commit_all(project, "my target")
    return line


def test_a_new_goal_adds_its_target_and_keeps_user_edits(
    web_history: TemplateHistory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = generate(web_history, tmp_path / "demo", "v0.1.0", goal="mobile")
    assert answers(project)["deploy"] == ["mobile"]
    assert not (project / "web").exists() and not (project / SERVE).exists()
    mine = edit_makefile(project)

    assert cli("update", project, "--template", web_history.path, "--data", "goal=browser") == 0

    assert (project / "web/index.html").read_text() == "<title>Demo</title>\n"
    for shipped in ("web/package-lock.json", "web/preprocess.js", "src/demo/web_export.py"):
        assert (project / shipped).is_file(), shipped
    assert "web-test:" in (project / "Makefile").read_text()
    assert (project / "src/demo/mobile.py").is_file()
    recorded = answers(project)
    assert (recorded["goal"], recorded["deploy"]) == ("browser", ["mobile", "browser"])
    assert (project / "Makefile").read_text().endswith(mine)
    assert not (project / SERVE).exists()
    assert "added     web/index.html" in capsys.readouterr().out


def test_the_api_target_brings_the_server_and_its_make_targets(
    web_history: TemplateHistory, tmp_path: Path
) -> None:
    project = generate(web_history, tmp_path / "demo", "v0.1.0", goal="browser")
    assert not (project / SERVE).exists() and not (project / "src/demo/serving").exists()
    assert "\nserve:" not in (project / "Makefile").read_text()
    mine = edit_makefile(project)

    data = ("--data", "deploy=browser,api", "--data", "goal=mobile")
    assert cli("update", project, "--template", web_history.path, *data) == 0

    assert (project / SERVE).is_file() and (project / "Dockerfile.serve").is_file()
    assert (project / "src/demo/serving/batching.py").is_file()
    makefile = (project / "Makefile").read_text()
    assert "\nserve:" in makefile and makefile.endswith(mine)
    assert answers(project)["deploy"] == ["api", "browser"]  # given: the goal adds nothing
    assert (project / "web/index.html").is_file()


def test_dropping_a_target_removes_its_files_and_folder(
    web_history: TemplateHistory, tmp_path: Path
) -> None:
    project = generate(web_history, tmp_path / "demo", "v0.1.0", goal="browser")
    (project / "data").mkdir()  # empty, the user's: kept
    assert cli("update", project, "--template", web_history.path, "--data", "deploy=mobile") == 0
    assert not (project / "web").exists() and (project / "data").is_dir()
    assert answers(project)["deploy"] == ["mobile"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("deploy=api,desktop", "deploy 'desktop' is not one of api, mobile, browser"),
        ("goal=phone", "goal 'phone' is not one of research, serving"),
        ("experience=cobol", "experience 'cobol' is not one of new, pytorch"),
    ],
)
def test_bad_targets_and_goals_are_one_line_and_change_nothing(
    web_history: TemplateHistory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    data: str,
    message: str,
) -> None:
    project = generate(web_history, tmp_path / "demo", "v0.1.0", goal="mobile")
    before = snapshot(project)
    assert cli("update", project, "--template", web_history.path, "--data", data) == Exit.USAGE
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert snapshot(project) == before


def test_a_project_made_before_deploy_existed_keeps_its_server(
    history: TemplateHistory, tmp_path: Path
) -> None:
    project = generate(history, tmp_path / "demo", "v0.1.0")
    answers_file = project / ".copier-answers.yml"
    recorded = answers(project)
    for key in ("goal", "experience", "deploy"):
        del recorded[key]
    answers_file.write_text(yaml.safe_dump(recorded))
    commit_all(project, "answers as an older dlstart wrote them")

    assert cli("update", project, "--template", history.path) in (Exit.OK, Exit.CONFLICTS)

    assert (project / SERVE).is_file() and (project / "Dockerfile.serve").is_file()
    recorded = answers(project)
    assert (recorded["goal"], recorded["deploy"]) == ("research", ["api"])
