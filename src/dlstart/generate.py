"""Write a new project into its destination: whole, or not at all.

Copier renders into a staging folder on the destination's file system, and a project that gets
a repository gets it there too (`git init` and the first commit). Then one step, with Ctrl-C
held off, puts the result in place: a single rename when the destination does not exist; when
it exists (empty, or `--force`), a move of each file it lacks, recorded in a journal so that a
failure takes back exactly what was added. Ctrl-C before that step leaves nothing; during or
after it, a complete project. `Interrupted` and `GenerationError` say which.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlstart import git, interrupts
from dlstart.errors import DlstartError, Failed, Interrupted, Refused, UsageError
from dlstart.template_source import Source, load_hooks

PHASES = ("rendered", "committed", "placing", "placed")


class GenerationError(Failed):
    """The project could not be rendered or written; the message says what was left."""


def reached(phase: str) -> None:
    """Called at each of `PHASES`; tests replace it to interrupt `generate` there."""


def destination_error(dest: Path, force: bool) -> DlstartError | None:
    """What is wrong with `dest` as a destination: a name the file system refuses (UsageError),
    or a folder in use (Refused); None when it will do."""
    too_long = [part for part in dest.parts if len(os.fsencode(part)) > 255]
    if too_long:
        return UsageError(
            f"the folder name {too_long[0][:40]}... is {len(os.fsencode(too_long[0]))} bytes "
            "long; file systems allow 255: choose a shorter DEST or --name"
        )
    try:
        if dest.exists() and not dest.is_dir():
            return Refused(f"{dest} exists and is not a folder")
        if not force and dest.is_dir() and any(dest.iterdir()):
            return Refused(
                f"{dest} exists and is not empty: choose another folder, or pass --force to add "
                "the project's files to it (existing files are kept, never overwritten)"
            )
    except OSError as error:
        return UsageError(f"{dest}: {error.strerror}")
    return None


def check_destination(dest: Path, force: bool) -> None:
    if error := destination_error(dest, force):
        raise error


@dataclass
class Placement:
    """Where the project went: what was added (the journal, to undo) and what was kept."""

    dest: Path
    repository: bool = False
    parent_repository: Path | None = None
    created: list[Path] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)

    def undo(self) -> None:
        for path in reversed(self.created):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        self.created.clear()


def existing_entries(dest: Path) -> list[str]:
    """What a folder already holds, for the `--force` listing: each file, and each folder as
    `name/ (N files)`."""
    if not dest.is_dir():
        return []
    entries = []
    for path in sorted(dest.iterdir()):
        if path.is_dir() and not path.is_symlink():
            count = sum(1 for p in path.rglob("*") if not p.is_dir())
            entries.append(f"{path.name}/ ({count} file{'s' if count != 1 else ''})")
        else:
            entries.append(path.name)
    return entries


def generate(
    source: Source, dest: Path, data: dict[str, Any], *, first_commit: str | None
) -> Placement:
    """Render `source` with `data` into `dest` (new, empty, or any folder under --force), with
    a repository of its own and `first_commit` when given and `dest` holds nothing."""
    dest = dest.absolute()
    new = not dest.exists()
    placement = Placement(dest, existing=existing_entries(dest))
    holds_files = bool(placement.existing)
    anchor = next(p for p in (dest, *dest.parents) if p.is_dir())
    placement.parent_repository = git.toplevel(anchor)
    staging: Path | None = None
    complete = False
    try:
        staging = Path(tempfile.mkdtemp(dir=anchor, prefix=".dlstart-"))
        staged = staging / "project"
        _render(source, staged, data)
        reached("rendered")
        if first_commit and not holds_files:
            placement.repository = _commit(staged, first_commit)
        reached("committed")
        with interrupts.held():
            reached("placing")
            if new:
                _rename_into_place(staged, dest, placement)
            else:
                _merge_into_place(staged, dest, placement)
            complete = True
            reached("placed")
    except KeyboardInterrupt:
        if complete:
            raise Interrupted(
                f"interrupted after {dest} was complete: the whole project is there"
            ) from None
        raise Interrupted(
            "interrupted before the project was placed: nothing was written"
        ) from None
    finally:
        if staging is not None:
            with interrupts.held(deliver=False):
                shutil.rmtree(staging, ignore_errors=True)
    return placement


def _render(source: Source, staged: Path, data: dict[str, Any]) -> None:
    import copier

    try:
        copier.run_copy(
            source.src,
            staged,
            data=data,
            vcs_ref=source.vcs_ref,
            defaults=True,
            unsafe=True,
            skip_tasks=True,
            quiet=True,
        )
        load_hooks().remove_empty_folders(staged)
    except (Exception, SystemExit) as error:
        raise GenerationError(
            f"the template failed to render ({type(error).__name__}: {error}); nothing was written"
        ) from error


def _commit(staged: Path, message: str) -> bool:
    """The staged project's repository and first commit; False (and none) if git fails."""
    try:
        git.init_and_commit(staged, message)
    except (subprocess.CalledProcessError, Failed):
        shutil.rmtree(staged / ".git", ignore_errors=True)
        return False
    return True


def _rename_into_place(staged: Path, dest: Path, placement: Placement) -> None:
    missing = [p for p in reversed(dest.parents) if not p.exists()]
    try:
        for folder in missing:
            folder.mkdir()
            placement.created.append(folder)
        staged.rename(dest)
        placement.created.append(dest)
    except OSError as error:
        placement.undo()
        raise GenerationError(f"could not write into {dest} ({error}); nothing was left") from error


def _merge_into_place(staged: Path, dest: Path, placement: Placement) -> None:
    """Move each staged file and folder `dest` lacks into it (journaled); keep every file it
    has."""
    try:
        for root, dirs, files in os.walk(staged):
            target = dest / Path(root).relative_to(staged)
            for name in sorted(dirs):
                if not (target / name).exists():  # a folder dest lacks moves whole
                    os.rename(Path(root) / name, target / name)
                    placement.created.append(target / name)
            dirs[:] = [name for name in dirs if (Path(root) / name).exists()]
            for name in sorted(files):
                if (target / name).exists() or (target / name).is_symlink():
                    placement.kept.append((target / name).relative_to(dest).as_posix())
                else:
                    os.rename(Path(root) / name, target / name)
                    placement.created.append(target / name)
    except OSError as error:
        placement.undo()
        raise GenerationError(
            f"could not write into {dest} ({error}); what was added was taken back, the "
            "folder is as it was"
        ) from error
