"""Where the templates come from, for every command: decided here and nowhere else.

- dlstart's own templates: the template root (the repository root of a checkout, or
  `dlstart/template_root/` in an installed wheel) is put into the mirror (`mirror.py`) as a
  version: `v<version>` for an installed dlstart; for a checkout, its tag where HEAD is one,
  else `v<tag or package version>.post<N>+g<hash>` (N commits since the last tag, or since the
  first commit), so a checkout without tags makes updatable projects too. A checkout whose
  template files have uncommitted changes gets `.d<tree hash>` added, and a warning: that
  version exists only in this machine's cache.
- `--template PATH`: another checkout, the same way.
- `--template URL` (`dlstart new`), or a project that records a URL other than the canonical
  one: copier reads that URL and its release tags.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from dlstart import __version__, git
from dlstart.errors import Refused, UsageError
from dlstart.mirror import Mirror, template_paths
from dlstart.questions import CANONICAL_TEMPLATE_URL
from dlstart.template_repo import DESCRIBED, TemplateRepo

URL_PREFIXES = ("https://", "http://", "ssh://", "git://", "git+", "git@", "gh:", "gl:", "file://")
VERSION_LINE = re.compile(r'^__version__ = "(?P<version>[^"]+)"$', re.MULTILINE)


def template_root() -> Path:
    package = Path(__file__).resolve().parent
    installed = package / "template_root"
    return installed if installed.is_dir() else package.parents[1]


def load_hooks() -> ModuleType:
    """`hooks/dlstart_hooks.py` of the template root: the name checks and slugs shared with
    cookiecutter and copier."""
    path = template_root() / "hooks" / "dlstart_hooks.py"
    spec = importlib.util.spec_from_file_location("dlstart_hooks", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Source:
    """What copier renders a new project from, and what to tell the user about it."""

    src: str
    vcs_ref: str | None
    version: str | None = None
    uncommitted: list[str] = field(default_factory=list)
    where: str = ""

    def warning(self) -> str | None:
        if not self.uncommitted:
            return None
        shown = ", ".join(self.uncommitted[:3]) + (", ..." if len(self.uncommitted) > 3 else "")
        return (
            f"the templates in {self.where} have uncommitted changes ({shown}): this project "
            f"records version {self.version}, which only this machine's cache holds. Commit "
            "template changes before generating projects others will update."
        )


def checkout_version(root: Path) -> str:
    """The version tag of a checkout's HEAD (see the module's docstring), without `.d...`."""
    if git.run("rev-parse", "--verify", "--quiet", "HEAD", cwd=root, check=False).returncode:
        raise Refused(f"{root} has no commit yet: commit the templates first")
    head = git.output("rev-parse", "--short=7", "HEAD", cwd=root)
    described = git.run(
        "describe", "--tags", "--long", "--match", "v[0-9]*", "HEAD", cwd=root, check=False
    )
    match = DESCRIBED.match(described.stdout.strip()) if described.returncode == 0 else None
    if match and match["count"] == "0":
        return match["tag"]
    if match:
        return f"{match['tag']}.post{match['count']}+g{head}"
    count = git.output("rev-list", "--count", "HEAD", cwd=root)
    return f"v{package_version(root)}.post{count}+g{head}"


def package_version(root: Path) -> str:
    """The dlstart version a checkout declares (this dlstart's when it declares none)."""
    init = root / "src" / "dlstart" / "__init__.py"
    found = VERSION_LINE.search(init.read_text()) if init.is_file() else None
    return found["version"] if found else __version__


def uncommitted(root: Path) -> list[str]:
    return [change.path for change in git.changes(root, template_paths(root))]


def provide(root: Path, mirror: Mirror) -> tuple[str, list[str]]:
    """Put the templates under `root` into `mirror` as a version; (its tag, uncommitted files)."""
    if not git.is_repo_root(root):
        return mirror.add(root, f"v{__version__}"), []
    tags = git.output("tag", "--list", "v[0-9]*", cwd=root).splitlines()
    mirror.fetch_tags(str(root), tags)
    version = checkout_version(root)
    dirty = uncommitted(root)
    if not dirty:
        return mirror.add(root, version), []
    tree = mirror.tree_of(root)
    tag = f"{version}{'.' if '+' in version else '+'}d{tree[:8]}"
    if not mirror.has(tag):
        mirror.tag_tree(tree, tag)
    return tag, dirty


def checkout(template: str | Path, flag: str = "--template") -> Path:
    """A `--template PATH`: the root of a git checkout holding copier.yml."""
    path = Path(template).expanduser().resolve()
    if not (path / "copier.yml").is_file():
        raise UsageError(f"{flag} {template}: no copier.yml at the root of {path}")
    if not git.is_repo_root(path):
        raise UsageError(
            f"{flag} {template}: {path} is not the root of a git checkout of the templates"
        )
    return path


def check_template(template: str | None) -> None:
    """Refuse a `--template SRC` that is neither a URL nor a checkout, before any question."""
    if template is not None and not template.startswith(URL_PREFIXES):
        checkout(template)


def for_new(template: str | None) -> Source:
    """The source of `dlstart new [--template SRC]`."""
    if template is not None and template.startswith(URL_PREFIXES):
        return Source(template, None, where=template)
    root = template_root() if template is None else checkout(template)
    mirror = Mirror.open()
    tag, dirty = provide(root, mirror)
    return Source(str(mirror.path), tag, tag, dirty, str(root))


def for_project(template: Path | None, recorded_url: str | None) -> TemplateRepo:
    """The repository `update` and `adopt` read: `--template PATH` or dlstart's own templates
    standing in for the canonical URL (through the mirror); else the URL the project records."""
    url = recorded_url or CANONICAL_TEMPLATE_URL
    if template is None and url != CANONICAL_TEMPLATE_URL:
        return TemplateRepo(url)
    root = template_root() if template is None else checkout(template)
    mirror = Mirror.open()
    tag, dirty = provide(root, mirror)
    where = f"the checkout {root}" if git.is_repo_root(root) else f"dlstart {__version__}"
    return TemplateRepo(url, mirror.path, tag, where, dirty, fetch_missing=template is None)
