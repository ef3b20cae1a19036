from __future__ import annotations

import subprocess
import sys

import pytest

from dlstart import __version__
from dlstart.errors import EXIT_STATUSES, Exit
from dlstart.flags import NEW_KEYS
from dlstart.questions import question

COMMANDS = ("new", "recommend", "update", "adopt", "doctor")


def test_version(dlstart) -> None:
    result = dlstart("--version")
    assert result.code == 0 and result.out.strip() == f"dlstart {__version__}"


def test_help_lists_the_commands(dlstart) -> None:
    result = dlstart("--help")
    assert result.code == 0
    assert "new" in result.out and "recommend" in result.out


def test_new_help_explains_every_option(dlstart) -> None:
    out = dlstart("new", "--help").out
    flags = [question(key).flag for key in NEW_KEYS]
    for flag in [*flags, "--answers", "--yes", "--force", "--template", "DEST"]:
        assert flag in out
    assert "never overwritten or deleted" in out  # what --force means
    assert "examples:" in out and "exit status" in out


@pytest.mark.parametrize("command", [(), *((c,) for c in COMMANDS)])
def test_help_fits_80_columns(dlstart, monkeypatch: pytest.MonkeyPatch, command) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal still gets 80
    out = dlstart(*command, "--help").out
    assert max(len(line) for line in out.splitlines()) <= 80, out


def test_help_holds_the_exit_status_table(dlstart) -> None:
    out = dlstart("--help").out
    for status in EXIT_STATUSES:
        assert f"  {int(status):>3}  " in out
    assert len(set(EXIT_STATUSES)) == len(EXIT_STATUSES) == 7
    assert Exit.UPDATE_AVAILABLE != Exit.USAGE


def test_recommend_help(dlstart) -> None:
    out = dlstart("recommend", "--help").out
    for flag in ("--goal", "--hardware", "--experience", "--python", "--yes"):
        assert flag in out
    assert "--framework" not in out and "--task" not in out


def test_no_command_is_a_usage_error(dlstart) -> None:
    result = dlstart()
    assert result.code == 2 and "COMMAND" in result.err


@pytest.mark.parametrize(
    "argv", [["--help"], ["new", "--help"], ["recommend", "--yes", "--hardware", "cpu"]]
)
def test_help_and_recommend_do_not_import_copier_or_questionary(argv: list[str]) -> None:
    heavy = {"copier", "questionary", "prompt_toolkit", "yaml", "jinja2"}
    code = (
        "import sys\n"
        "from dlstart.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {heavy!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_recommend_without_a_terminal(dlstart) -> None:
    result = dlstart("recommend", "--goal", "mobile")
    assert result.code == 2 and "--hardware" in result.err and "--experience" in result.err
    result = dlstart("recommend", "--goal", "mobile", "--hardware", "gpu", "--experience", "new")
    assert result.code == 0
    first = next(line for line in result.out.splitlines() if line.lstrip().startswith("1."))
    assert "TensorFlow" in first


def test_missing_answers_without_a_terminal_fail_instead_of_waiting(isolated) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dlstart", "new", "demo", "--framework", "jax"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--task" in result.stderr and "--hardware" in result.stderr
    assert list(isolated.iterdir()) == []


def test_ctrl_c_while_starting_up_is_one_line_and_130() -> None:
    code = (
        "import builtins, sys\n"
        "real = builtins.__import__\n"
        "def interrupted(name, *args, **kwargs):\n"
        "    if name == 'dlstart.commands':\n"
        "        raise KeyboardInterrupt\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = interrupted\n"
        "from dlstart.cli import main\n"
        "sys.exit(main(['--help']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 130
    assert result.stderr.strip().splitlines() == ["dlstart: interrupted: nothing was written"]


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["new", "demo", "--nodes", "0"], Exit.USAGE),  # argparse
        (["new", "demo", "--yes", "--name", "torch"], Exit.USAGE),
        (["update", "--check", "--to", "v1"], Exit.USAGE),
        (["update", "no-such-folder"], Exit.REFUSED),
        (["doctor", "."], Exit.REFUSED),
    ],
)
def test_every_command_reports_errors_one_way(dlstart, argv, status) -> None:
    result = dlstart(*argv)
    assert result.code == status
    assert result.err.startswith(f"usage: dlstart {argv[0]}" if status == Exit.USAGE and
                                 "--nodes" in argv else f"dlstart {argv[0]}: error: ")  # fmt: skip


def test_make_demo_keeps_a_previous_demo_and_takes_a_name(tmp_path) -> None:
    from .conftest import ROOT

    (tmp_path / "Makefile").write_bytes((ROOT / "Makefile").read_bytes())
    (tmp_path / "pyproject.toml").write_text("")
    fake = tmp_path / "fake" / "bin" / "dlstart"
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/bin/sh\necho "dlstart $*"\n')
    fake.chmod(0o755)
    (tmp_path / "build" / "demo").mkdir(parents=True)
    (tmp_path / "build" / "demo" / "mine.txt").write_text("a previous run")
    make = ["make", "--no-print-directory", "VENV=fake", "MAKE=true"]
    result = subprocess.run(
        [*make, "demo", "NAME=My Demo"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "generating into build/demo-2" in result.stdout
    assert "dlstart new build/demo-2 --yes" in result.stdout and "--name My Demo" in result.stdout
    assert (tmp_path / "build" / "demo" / "mine.txt").read_text() == "a previous run"
    help_text = subprocess.run([*make, "help"], cwd=tmp_path, capture_output=True, text=True)
    assert "make demo" in help_text.stdout and "$(" not in help_text.stdout
