"""Where `dlstart new` takes its template from, and the template root's hooks.

The template root is the directory holding `copier.yml`, `templates/` and `hooks/`: the repository
root in a git checkout of dlstart, `dlstart/template_root/` in an installed wheel. Copier records a
template version (`_commit`) only for a git repository, so an installed wheel's root is turned,
once per dlstart version, into a cached git repository tagged `v<version>`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from dlstart import __version__, gitutil
from dlstart.errors import UserError
from dlstart.questions import CANONICAL_TEMPLATE_URL

URL_PREFIXES = ("https://", "http://", "ssh://", "git://", "git+", "git@", "gh:", "gl:", "file://")
# Fixed author and date: every machine materializes the same version as the same commit.
_COMMIT_ENV = {
    "GIT_AUTHOR_NAME": "dlstart",
    "GIT_AUTHOR_EMAIL": "dlstart@users.noreply.github.com",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z",
    "GIT_COMMITTER_NAME": "dlstart",
    "GIT_COMMITTER_EMAIL": "dlstart@users.noreply.github.com",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z",
}


@dataclass(frozen=True)
class TemplateSource:
    """What copier is given: a URL or a local git repository, and the version to check out
    (None: copier's choice, the latest tag)."""

    src: str
    vcs_ref: str | None


def template_root() -> Path:
    package = Path(__file__).resolve().parent
    installed = package / "template_root"
    return installed if installed.is_dir() else package.parents[1]


def load_hooks() -> ModuleType:
    """`hooks/dlstart_hooks.py` of the template root: the one implementation of name checks
    and post-generation, shared with cookiecutter and copier."""
    path = template_root() / "hooks" / "dlstart_hooks.py"
    spec = importlib.util.spec_from_file_location("dlstart_hooks", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dlstart"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, env={**os.environ, **_COMMIT_ENV}
    )


def materialize(root: Path, version: str = __version__, cache: Path | None = None) -> Path:
    """A git repository holding `root` in one commit tagged `v<version>`, made once per version.

    It is built beside its final place and renamed into it, so a half-made one is never used.
    """
    cache = cache or cache_dir()
    repo = cache / f"template-v{version}"
    if repo.is_dir():
        return repo
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".building-") as building:
        work = Path(building) / "template"
        shutil.copytree(root, work, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        _git(work, "init", "--quiet", "--initial-branch=main")
        _git(work, "add", "--all")
        _git(
            work,
            "commit",
            "--quiet",
            "--no-verify",
            "--no-gpg-sign",
            "--message",
            f"dlstart {version} templates",
        )
        _git(work, "tag", f"v{version}")
        try:
            work.rename(repo)
        except OSError:
            if not repo.is_dir():  # not a concurrent dlstart that got there first
                raise
    return repo


def default_source() -> TemplateSource:
    """The templates of this dlstart: the checkout as it is (HEAD and uncommitted changes, as
    copier takes a local HEAD), or an installed version's cached repository."""
    root = template_root()
    if shutil.which("git") is None:
        raise UserError("git is needed to record the template version; install git")
    if gitutil.is_repo_root(root):
        return TemplateSource(str(root), "HEAD")
    return TemplateSource(str(materialize(root)), f"v{__version__}")


def resolve_source(template: str | None) -> TemplateSource:
    """The source for `dlstart new --template SRC` (None: this dlstart's own templates)."""
    if template is None:
        return default_source()
    if template.startswith(URL_PREFIXES):
        return TemplateSource(template, None)
    path = Path(template).expanduser().resolve()
    if not (path / "copier.yml").is_file():
        raise UserError(f"--template {template}: no copier.yml at the root of {path}")
    if not gitutil.is_repo_root(path):
        raise UserError(
            f"--template {template}: {path} is not the root of a git repository; "
            "dlstart update needs a versioned template (git init, commit, tag)"
        )
    return TemplateSource(str(path), None)


def git_redirect_env(local_repo: Path, url: str = CANONICAL_TEMPLATE_URL) -> dict[str, str]:
    """Environment variables under which git fetches `url` (the canonical one) from `local_repo`.

    Generated projects record the canonical URL; with these, `copier update` reads the local
    templates instead (git's `url.<local>.insteadOf=<canonical>`). They are appended after any
    `GIT_CONFIG_*` entries already in the environment.
    """
    index = int(os.environ.get("GIT_CONFIG_COUNT", "0"))
    return {
        "GIT_CONFIG_COUNT": str(index + 1),
        f"GIT_CONFIG_KEY_{index}": f"url.{local_repo.resolve()}.insteadOf",
        f"GIT_CONFIG_VALUE_{index}": url,
    }
