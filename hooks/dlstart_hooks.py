"""Generation hooks shared by cookiecutter, copier and the dlstart CLI (standard library only).

- `check_names` validates the project slug and package name before anything is written.
- `post_generate` puts a fresh project under git (one first commit) and prints the next steps.

Cookiecutter runs them as `hooks/cookiecutter/*_gen_project.py`, standalone copies of this module;
copier through the validators and `_tasks` of `copier.yml`; tools/sync_templates.py writes both
from this file. dlstart imports this module directly for the names, the first commit's message
and the next steps (it makes the repository itself, before the project is in place).
"""

from __future__ import annotations

import argparse
import keyword
import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

SLUG_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
PACKAGE_PATTERN = r"^[a-z][a-z0-9_]*$"
MAX_PACKAGE_LENGTH = 32
SHADOWED_NAMES = (
    "torch",
    "tensorflow",
    "tf",
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "keras",
    "numpy",
    "onnx",
    "onnxruntime",
    "grain",
    "orbax",
    "test",
    "tests",
    "collections",
    "copy",
    "io",
    "json",
    "logging",
    "math",
    "os",
    "queue",
    "random",
    "string",
    "sys",
    "time",
    "types",
    "typing",
)
SOFT_KEYWORDS = ("_", "case", "match", "type")
FIRST_COMMIT = "Start project from the dlstart template"


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def package_name(slug: str) -> str:
    return slug.replace("-", "_")


def slug_error(slug: str) -> str | None:
    if not slug:
        return "the project name is empty once reduced to letters, digits and dashes"
    if not re.match(SLUG_PATTERN, slug):
        return (
            f"project slug {slug!r} must start with a letter and hold only lowercase "
            "letters, digits and single dashes"
        )
    return None


def package_error(package: str) -> str | None:
    if not package:
        return "the package name is empty"
    if not re.match(PACKAGE_PATTERN, package) or not package.isidentifier():
        return (
            f"package name {package!r} is not a Python identifier "
            "(lowercase letters, digits and underscores, starting with a letter)"
        )
    if keyword.iskeyword(package) or package in SOFT_KEYWORDS:
        return f"package name {package!r} is a Python keyword"
    if package in SHADOWED_NAMES:
        return f"package name {package!r} would shadow the module of the same name"
    if len(package) > MAX_PACKAGE_LENGTH:
        return (
            f"package name {package!r} has {len(package)} characters; at most "
            f"{MAX_PACKAGE_LENGTH} keep the generated code within its 100-column lines"
        )
    return None


def check_names(slug: str, package: str) -> str | None:
    """The first problem with a slug and package name, or None when both are valid."""
    return slug_error(slug) or package_error(package)


def deploy_error(targets: str, known: str) -> str | None:
    """What is wrong with comma-separated deployment targets (cookiecutter has no multiselect
    question, so its answer is text), or None."""
    allowed = known.split(",")
    for target in (t.strip() for t in targets.split(",")):
        if target and target not in allowed:
            return f"deploy {target!r} is not one of {', '.join(allowed)} (comma-separated)"
    return None


def _identity_args(project: Path) -> list[str]:
    """`-c user.name/user.email` for a first commit where git has no identity configured."""
    configured = subprocess.run(
        ["git", "config", "user.email"], cwd=project, capture_output=True, text=True
    )
    if configured.stdout.strip():
        return []
    return ["-c", "user.name=dlstart", "-c", "user.email=dlstart@users.noreply.github.com"]


def _git(project: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)


def init_git(project: Path) -> bool:
    """`git init` and a first commit, unless git is missing or the folder is already in a
    repository (then it says so, and what to do)."""
    if shutil.which("git") is None:
        return False
    inside = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=project, capture_output=True, text=True
    )
    if inside.returncode == 0:
        print(
            f"Note: {project} is inside the git repository {inside.stdout.strip()}, so it got no "
            "repository of its own: commit it there, or run `git init` in it first if it should "
            "have its own (before `pre-commit install`, which would install into the outer one)."
        )
        return False
    _git(project, "init", "--quiet", "--initial-branch=main")
    _git(project, "add", "--all")
    _git(
        project,
        *_identity_args(project),
        "commit",
        "--quiet",
        "--no-verify",
        "--message",
        FIRST_COMMIT,
    )
    return True


def next_steps(project: Path, package: str) -> str:
    return "\n".join(
        [
            f"Created {project}. Next:",
            f"  cd {project}",
            "  make setup        # virtual environment from requirements/ for your hardware",
            "  make sample       # a small dataset in the real on-disk format",
            "  make train        # train; runs/<run>/ holds checkpoints and metrics",
            f"  (the same commands: python -m {package}.data sample, python -m {package}.train)",
        ]
    )


def remove_empty_folders(project: Path) -> None:
    """Remove the folders left empty by files whose conditional names rendered empty (a
    deployment target not chosen): both engines create a folder before skipping its files, and
    neither can skip a folder by its name alone (cookiecutter fails on one that renders empty)."""
    for folder in sorted(project.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        inside_git = ".git" in folder.relative_to(project).parts
        if folder.is_dir() and not inside_git and not any(folder.iterdir()):
            folder.rmdir()


def post_generate(project: Path, package: str, quiet: bool = False) -> None:
    remove_empty_folders(project)
    init_git(project)
    if not quiet:
        print(next_steps(project, package))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check-names", help="validate a project slug and package name")
    check.add_argument("slug")
    check.add_argument("package")
    check.add_argument(
        "--deploy",
        nargs=2,
        metavar=("TARGETS", "KNOWN"),
        help="comma-separated deployment targets, and the known ones (cookiecutter's answer)",
    )
    post = sub.add_parser("post-gen", help="git init, first commit, next steps")
    post.add_argument("project", type=Path)
    post.add_argument("package")
    args = parser.parse_args(argv)
    if args.command == "check-names":
        error = check_names(args.slug, args.package)
        if error is None and args.deploy:
            error = deploy_error(*args.deploy)
        if error:
            print(f"ERROR: {error}", file=sys.stderr)
            return 1
        return 0
    post_generate(args.project.resolve(), args.package)
    return 0


if __name__ == "__main__":
    sys.exit(main())
