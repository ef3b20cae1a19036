"""Render a project with copier, then move it into its destination without touching what was there.

Copier renders into an empty staging folder on the destination's file system. Only a complete
render is moved into place: renamed when the destination is new, file by file when it already
exists (a file that exists there is kept, never overwritten). A failure or Ctrl-C at any point
removes what this run created and nothing else.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlstart.errors import UserError
from dlstart.sources import TemplateSource


class GenerationError(Exception):
    """The project could not be rendered or written; nothing was left behind."""


def destination_problem(dest: Path, force: bool) -> str | None:
    if dest.exists() and not dest.is_dir():
        return f"{dest} exists and is not a folder"
    if not force and dest.is_dir() and any(dest.iterdir()):
        return (
            f"{dest} exists and is not empty: choose another folder, or pass --force to add the "
            "project's files to it (existing files are kept, never overwritten)"
        )
    return None


def check_destination(dest: Path, force: bool) -> None:
    if problem := destination_problem(dest, force):
        raise UserError(problem)


def _missing_dirs(path: Path) -> list[Path]:
    """`path` and those of its parents that do not exist, outermost first."""
    return [p for p in reversed((path, *path.parents)) if not p.exists()]


@dataclass
class Placement:
    """What moving the render into place created (to undo) and kept (to report)."""

    created: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)

    def undo(self) -> None:
        for path in reversed(self.created):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


@contextmanager
def _staging(dest: Path) -> Iterator[Path]:
    """An empty folder named like `dest` on its file system (so moving is renaming): inside
    `dest` when it exists, else beside it, where `dest` itself will be created."""
    where = next(p for p in (dest, *dest.parents) if p.is_dir())
    with tempfile.TemporaryDirectory(dir=where, prefix=".dlstart-") as temp:
        yield Path(temp) / dest.name


def _place(rendered: Path, dest: Path, placement: Placement) -> None:
    if not dest.exists():
        for folder in _missing_dirs(dest.parent):
            folder.mkdir()
            placement.created.append(folder)
        rendered.rename(dest)
        placement.created.append(dest)
        return
    for root, dirs, files in os.walk(rendered):
        target = dest / Path(root).relative_to(rendered)
        for name in sorted(dirs):
            if not (target / name).exists():
                (target / name).mkdir()
                placement.created.append(target / name)
        for name in sorted(files):
            if (target / name).exists() or (target / name).is_symlink():
                placement.kept.append((target / name).relative_to(dest))
            else:
                os.rename(Path(root) / name, target / name)
                placement.created.append(target / name)


def render(source: TemplateSource, dest: Path, data: dict[str, Any]) -> Placement:
    """Render the template with `data` into `dest` (which may exist: see `destination_problem`).

    Copier's own post-generation task is skipped: the caller runs the hooks.
    """
    import copier

    dest = dest.absolute()
    placement = Placement()
    try:
        with _staging(dest) as staging:
            try:
                copier.run_copy(
                    source.src,
                    staging,
                    data=data,
                    vcs_ref=source.vcs_ref,
                    defaults=True,
                    unsafe=True,
                    skip_tasks=True,
                    quiet=True,
                )
            except (Exception, SystemExit) as error:
                raise GenerationError(
                    f"the template failed to render ({type(error).__name__}: {error})"
                ) from error
            try:
                _place(staging, dest, placement)
            except BaseException:
                placement.undo()
                raise
    except OSError as error:
        raise GenerationError(f"could not write into {dest} ({error})") from error
    return placement
