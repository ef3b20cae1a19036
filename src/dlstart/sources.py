"""Where the templates come from.

Projects record the canonical repository URL as `_src_path`; a local checkout stands in for it
by redirecting git (`url.<checkout>.insteadOf <canonical URL>`), so copier clones the checkout
while every answers file keeps a path that works on any machine.
"""

from __future__ import annotations

import os
from pathlib import Path

from dlstart.questions import CANONICAL_TEMPLATE_URL

PACKAGE = Path(__file__).resolve().parent


def template_root() -> Path:
    """The folder holding the root `copier.yml`: the checkout dlstart runs from, else the copy
    packaged with it (not a git repository, so not versioned)."""
    checkout = PACKAGE.parents[1]
    if (checkout / "copier.yml").is_file() and (checkout / "templates").is_dir():
        return checkout
    return PACKAGE / "template_root"


def git_redirect_env(local_repo: Path, url: str = CANONICAL_TEMPLATE_URL) -> dict[str, str]:
    """Environment variables that make git read `local_repo` whenever it is asked for `url`.

    They are appended to any `GIT_CONFIG_*` entries already in the environment.
    """
    count = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
    return {
        "GIT_CONFIG_COUNT": str(count + 1),
        f"GIT_CONFIG_KEY_{count}": f"url.{Path(local_repo).resolve().as_posix()}.insteadOf",
        f"GIT_CONFIG_VALUE_{count}": url,
    }
