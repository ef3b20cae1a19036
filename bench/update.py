"""Time `dlstart update` against raw `copier update` on identical projects, in one run.

A throwaway template repository holds this checkout's templates as release v0.1.0 and, with a
few files changed, v0.2.0. Two identical projects are generated from v0.1.0 and given the same
user edit. Each repetition resets both to that commit and times, as separate processes, what a
user types: `dlstart update --template REPO` and `copier update --trust --defaults --conflict
inline` (with the same git redirect dlstart sets up). The order alternates between
repetitions; the medians and their ratio are printed (goal: dlstart within 1.15x of copier).

    python bench/update.py [--reps N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dlstart.questions import CANONICAL_TEMPLATE_URL
from dlstart.template_repo import TemplateRepo, git_redirect_env

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PARTS = ("copier.yml", "hooks", "migrations", "templates/_shared", "templates/pytorch")
PROJECT = "templates/pytorch/{{cookiecutter.project_slug}}"
GOAL = 1.15


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def build_template_repo(path: Path) -> None:
    for part in TEMPLATE_PARTS:
        source, target = ROOT / part, path / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True)
        else:
            shutil.copy2(source, target)
    notes = path / PROJECT / "NOTES.md"
    notes.write_text("".join(f"note {i}\n" for i in range(40)))
    git("init", "--quiet", cwd=path)
    git("add", "--all", cwd=path)
    git("commit", "--quiet", "--message", "v0.1.0", cwd=path)
    git("tag", "v0.1.0", cwd=path)
    notes.write_text(notes.read_text().replace("note 30\n", "note 30, revised\n"))
    with (path / PROJECT / ".gitignore").open("a") as gitignore:
        gitignore.write("/outputs/\n")
    git("commit", "--quiet", "--all", "--message", "v0.2.0", cwd=path)
    git("tag", "v0.2.0", cwd=path)


def make_project(repo: TemplateRepo, dest: Path) -> None:
    repo.copy(dest, "v0.1.0", {"framework": "pytorch", "project_name": "Bench"})
    git("init", "--quiet", cwd=dest)
    git("add", "--all", cwd=dest)
    git("commit", "--quiet", "--message", "Start", cwd=dest)
    notes = dest / "NOTES.md"
    notes.write_text(notes.read_text().replace("note 3\n", "note 3, mine\n"))
    git("commit", "--quiet", "--all", "--message", "my edit", cwd=dest)


def reset(project: Path) -> None:
    git("reset", "--quiet", "--hard", cwd=project)
    git("clean", "-fdq", cwd=project)


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def tree(project: Path) -> dict[str, bytes]:
    return {
        p.relative_to(project).as_posix(): p.read_bytes()
        for p in project.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(project).parts
    }


def prepare(base: Path) -> dict[str, tuple[list[str], dict[str, str], Path]]:
    """The template repository, the two projects, and each tool's command line."""
    os.environ["COPIER_CACHE_DIR"] = str(base / "copier-cache")
    for role in ("AUTHOR", "COMMITTER"):
        os.environ[f"GIT_{role}_NAME"] = "bench"
        os.environ[f"GIT_{role}_EMAIL"] = "bench@example.com"
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    templates = base / "templates"
    build_template_repo(templates)
    repo = TemplateRepo(CANONICAL_TEMPLATE_URL, templates)
    ours, theirs = base / "dlstart" / "bench", base / "copier" / "bench"
    make_project(repo, ours)
    make_project(repo, theirs)
    dlstart = [sys.executable, "-m", "dlstart", "update", str(ours), "--template", str(templates)]
    copier = [
        sys.executable,
        "-m",
        "copier",
        "update",
        "--trust",
        "--defaults",
        "--quiet",
        "--conflict",
        "inline",
        str(theirs),
    ]
    return {
        "dlstart update": (dlstart, env, ours),
        "copier update": (copier, {**env, **git_redirect_env(templates)}, theirs),
    }


def measure(
    runs: dict[str, tuple[list[str], dict[str, str], Path]], reps: int
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in runs}
    for rep in range(reps):
        for name in list(runs) if rep % 2 == 0 else list(reversed(runs)):
            command, env, project = runs[name]
            reset(project)
            times[name].append(timed(command, env))
        if rep == 0 and len({tuple(sorted(tree(p).items())) for _, _, p in runs.values()}) > 1:
            raise SystemExit("error: dlstart and copier produced different projects")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=7, help="repetitions (default: 7)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dlstart-bench-") as scratch:
        times = measure(prepare(Path(scratch)), args.reps)
    report(times, args.reps)
    return 0


def report(times: dict[str, list[float]], reps: int) -> None:
    print(f"update of a generated pytorch project, v0.1.0 -> v0.2.0, {reps} repetitions")
    for name, values in times.items():
        print(
            f"  {name:<15} median {statistics.median(values):.3f} s  "
            f"(min {min(values):.3f}, max {max(values):.3f})"
        )
    ratio = statistics.median(times["dlstart update"]) / statistics.median(times["copier update"])
    verdict = "within" if ratio <= GOAL else "over"
    print(f"  dlstart / copier: {ratio:.3f}x ({verdict} the {GOAL}x goal)")


if __name__ == "__main__":
    sys.exit(main())
