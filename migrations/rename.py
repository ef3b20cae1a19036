"""Template migration: rename user-owned files and config keys that a template release renamed.

`dlstart update` (copier) runs it once, from the project root, before merging a release that
lists it in `_migrations` (written from `MIGRATIONS` in `src/dlstart/questions.py`):

    python migrations/rename.py --file OLD=NEW ... --key section.old=section.new ...

- `--file`: a user-owned file the template moved. Updates never touch user-owned files, so without
  this the user's file would stay behind under the old name. It moves with `git mv`, so the merge
  sees a rename. Paths may hold `{package_name}`, read from `.copier-answers.yml`.
- `--key`: a config key renamed within its section, in every YAML file under `configs/` (the
  user's own experiment configs included, which the template never renders), keeping the value
  and the comments. Block-style YAML, as the templates write it.

Both are idempotent: nothing changes where the old name is absent or the new one exists already.
Standard library only: it runs in the Python that runs copier.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ANSWERS_FILE = ".copier-answers.yml"
KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w-]*)(?P<rest>\s*:(?:\s.*)?)$")
BLOCK_SCALAR = re.compile(r":\s*[|>][-+0-9]*\s*(?:#.*)?$")


def pair(text: str) -> tuple[str, str]:
    old, sep, new = text.partition("=")
    if not (sep and old and new):
        raise argparse.ArgumentTypeError(f"expected OLD=NEW, got {text!r}")
    return old, new


def key_pair(text: str) -> tuple[str, str]:
    old, new = pair(text)
    if old.rpartition(".")[0] != new.rpartition(".")[0]:
        raise argparse.ArgumentTypeError(f"{text!r}: a key can only be renamed within its section")
    return old, new


def answer(name: str) -> str | None:
    answers = Path(ANSWERS_FILE)
    if not answers.is_file():
        return None
    for line in answers.read_text(encoding="utf-8").splitlines():
        match = re.match(rf"^{name}:\s*(.+?)\s*$", line)
        if match:
            return match.group(1).strip("'\"")
    return None


def key_paths(lines: list[str]) -> list[str | None]:
    """The dotted path of the mapping key on each line (None for other lines)."""
    paths: list[str | None] = []
    stack: list[tuple[int, str]] = []
    scalar_indent: int | None = None
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if scalar_indent is not None and (not stripped or indent > scalar_indent):
            paths.append(None)
            continue
        scalar_indent = None
        if stripped == "---":
            stack.clear()
            paths.append(None)
            continue
        match = KEY_LINE.match(line)
        if not stripped or stripped.startswith("#") or not (match or stripped.startswith("-")):
            paths.append(None)
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = match.group("key") if match else "-"
        stack.append((indent, key))
        paths.append(".".join(k for _, k in stack) if match else None)
        if BLOCK_SCALAR.search(line):
            scalar_indent = indent
    return paths


def rename_key(text: str, old: str, new: str) -> str:
    lines = text.splitlines(keepends=True)
    paths = key_paths([line.rstrip("\r\n") for line in lines])
    if new in paths:
        return text
    new_name = new.rpartition(".")[2]
    for i, path in enumerate(paths):
        if path == old:
            match = KEY_LINE.match(lines[i].rstrip("\r\n"))
            assert match is not None
            ending = lines[i][len(lines[i].rstrip("\r\n")) :]
            lines[i] = match.group("indent") + new_name + match.group("rest") + ending
    return "".join(lines)


def rename_keys(renames: list[tuple[str, str]]) -> None:
    configs = Path("configs")
    if not configs.is_dir():
        return
    for path in sorted(configs.rglob("*")):
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        for old, new in renames:
            renamed = rename_key(text, old, new)
            if renamed != text:
                report(f"{path.as_posix()}: config key {old} -> {new}")
                text = renamed
                path.write_text(text, encoding="utf-8")


def is_tracked(path: Path) -> bool:
    if shutil.which("git") is None:
        return False
    result = subprocess.run(
        ["git", "ls-files", "--error-unmatch", "--", str(path)], capture_output=True
    )
    return result.returncode == 0


def rename_files(renames: list[tuple[str, str]]) -> None:
    package = answer("package_name") or ""
    for old_pattern, new_pattern in renames:
        old = Path(old_pattern.format(package_name=package))
        new = Path(new_pattern.format(package_name=package))
        if not old.is_file() or new.exists():
            continue
        new.parent.mkdir(parents=True, exist_ok=True)
        if is_tracked(old):
            subprocess.run(["git", "mv", "--", str(old), str(new)], check=True)
        else:
            old.replace(new)
        report(f"{old.as_posix()} -> {new.as_posix()}")


def report(change: str) -> None:
    version = os.environ.get("VERSION_CURRENT")
    print(f"migration to {version}: {change}" if version else f"migration: {change}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--file",
        type=pair,
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="move a user-owned file (paths may hold {package_name})",
    )
    parser.add_argument(
        "--key",
        type=key_pair,
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="rename a dotted config key within its section, in every configs/ YAML file",
    )
    args = parser.parse_args(argv)
    rename_files(args.file)
    rename_keys(args.key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
