"""Pin every template's requirements files from their input lists in `locks/` (`make lock`).

`locks/<template>/<target>.in` is the input list of
`templates/<template>/{{cookiecutter.project_slug}}/requirements/<target>.txt`; pieces shared by
several lists start with `_` and are included with `-r`. uv resolves each list for its target's
platform and the framework's default Python, so the cuda, tpu and apple files resolve here without
installing anything, and every package of the environment is written pinned with `==`:

- the comment block at the top of the input list is the header of the file;
- a re-lock moves no pin it need not: it keeps the versions of the framework's cpu.txt (what CI
  installs and tests), then those already in the file; `--upgrade-package NAME` lets one move;
- names keep the spelling the file gives them; extras named in the input list stay on the pin
  (`jax[cuda12]==...`);
- a layer (jax's export.txt, pytorch's mobile.txt, every research.txt) holds what its list adds
  on top of each of its base files, which it must not change;
- dev.txt pins only the packages its list names; pip resolves the rest with the target's file.

`--check` resolves into a temporary directory and exits 1 with a diff when a committed file
differs. PyTorch's CPU build comes from PyTorch's CPU wheel index, or from the local wheel folders
pip is given in `PIP_FIND_LINKS` where they are set.
"""

from __future__ import annotations

import argparse
import difflib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from dlstart.questions import FRAMEWORKS  # noqa: E402

LOCKS = ROOT / "locks"
TEMPLATES = ROOT / "templates"
PROJECT_DIR = "{{cookiecutter.project_slug}}"
SHARED = "_shared"
CPU = "cpu"

LINUX = "x86_64-manylinux_2_28"
# Every other target: Linux x86_64. libtpu's wheels need glibc 2.31 (TPU VMs have 2.35).
PLATFORMS = {"apple": "aarch64-apple-darwin", "tpu": "x86_64-manylinux_2_31"}
# uv reads the macOS version to resolve for here: PyTorch 2.13's wheels need macOS 14.
MACOS = {"MACOSX_DEPLOYMENT_TARGET": "14.0"}
LAYERS = {
    ("jax", "export"): ("cuda", "tpu"),
    ("pytorch", "pretrained"): ("cpu", "cuda", "apple"),
    ("jax", "pretrained"): ("cpu", "cuda", "tpu"),
    ("tensorflow", "pretrained"): ("cpu", "cuda", "tpu"),
    ("pytorch", "mobile"): ("cpu",),
    ("pytorch", "research"): ("cpu", "cuda", "apple"),
    ("tensorflow", "research"): ("cpu", "cuda", "tpu"),
    ("jax", "research"): ("cpu", "cuda", "tpu"),
}
DIRECT_ONLY = {(SHARED, "dev")}
# Dependencies a layer leaves out (its file is installed with pip's --no-deps): keras-hub declares
# tensorflow-text, which requires `tensorflow` beside tensorflow-cpu; its tokenizers run without it.
EXCLUDED = {("tensorflow", "pretrained"): ["tensorflow-text"]}
# Pins that may differ from cpu.txt (what CI installs and tests); every other shared pin must not.
DIFFERS_FROM_CPU = {("tensorflow", "tpu"): {"tensorboard"}}  # tensorflow-tpu 2.20 needs 2.20
TORCH_CPU = ("pytorch", CPU)
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"

Pins = dict[str, tuple[str, str]]  # canonical name -> (name as written, version)
# Requirements files a project holds only for some answers: their conditional template names.
OUTPUT_NAMES = {
    "serve": '{% if "api" in cookiecutter.deploy %}serve.txt{% endif %}',
    "mobile": '{% if "mobile" in cookiecutter.deploy %}mobile.txt{% endif %}',
}


class LockError(Exception):
    """A list that does not resolve, or a layer that does not fit its base."""


@dataclass(frozen=True)
class Lock:
    template: str
    target: str

    @property
    def source(self) -> Path:
        return LOCKS / self.template / f"{self.target}.in"

    @property
    def output(self) -> Path:
        name = OUTPUT_NAMES.get(self.target, f"{self.target}.txt")
        return TEMPLATES / self.template / PROJECT_DIR / "requirements" / name

    @property
    def name(self) -> str:
        return f"{self.template}/{self.target}"

    @property
    def platform(self) -> str:
        return PLATFORMS.get(self.target, LINUX)

    @property
    def python(self) -> str:
        if self.template == SHARED:
            return min(fw.default_python for fw in FRAMEWORKS.values())
        return FRAMEWORKS[self.template].default_python

    def sibling(self, target: str) -> Lock:
        return Lock(self.template, target)


def all_locks() -> list[Lock]:
    """Every input list, each framework's cpu first (the others prefer its pins), layers last."""
    locks = []
    for path in sorted(LOCKS.glob("*/*.in")):
        if path.parent.name not in (SHARED, *FRAMEWORKS):
            raise LockError(f"{path.relative_to(ROOT)}: {path.parent.name} is not a template")
        if not path.name.startswith("_"):
            locks.append(Lock(path.parent.name, path.stem))
    return sorted(locks, key=lambda lock: (lock.template, _rank(lock), lock.target))


def _rank(lock: Lock) -> int:
    if (lock.template, lock.target) in LAYERS:
        return 2
    return 0 if lock.target == CPU else 1


def read_pins(path: Path) -> Pins:
    """The `name==version` lines of a requirements file, keyed by canonical name."""
    pins: Pins = {}
    if not path.is_file():
        return pins
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        name, _, version = line.partition("==")
        written = name.split("[", 1)[0].strip()
        pins[canonicalize_name(written)] = (written, version.strip())
    return pins


def requirements(path: Path) -> list[Requirement]:
    """The requirements an input list names, following its `-r` includes."""
    found: list[Requirement] = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            found += requirements(path.parent / line.split(None, 1)[1])
        elif line and not line.startswith("-"):
            try:
                found.append(Requirement(line))
            except InvalidRequirement as error:
                raise LockError(f"{path.relative_to(ROOT)}: {line!r}: {error}") from None
    return found


def header(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    end = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    return lines[:end]


def uv() -> str:
    try:
        from uv import find_uv_bin
    except ImportError:
        raise LockError(
            "uv is not installed: run `make .venv/bin/dlstart` (dlstart[test])"
        ) from None
    return find_uv_bin()


def sources(lock: Lock) -> list[str]:
    if (lock.template, lock.target) != TORCH_CPU:
        return []
    links = os.environ.get("PIP_FIND_LINKS", "").split()
    if links:
        return [f"--find-links={link}" for link in links]
    return [f"--extra-index-url={TORCH_CPU_INDEX}", "--index-strategy=unsafe-best-match"]


def resolve(
    lock: Lock,
    inputs: list[Path],
    prefer: Pins,
    upgrade: list[str],
    python: str | None = None,
    fixed: Pins | None = None,
    excluded: list[str] | None = None,
) -> Pins:
    """uv's resolution of `inputs` for `lock`'s platform, keeping the versions of `prefer` where
    it can and those of `fixed` always, without the packages `excluded`."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.txt"
        out.write_text("".join(f"{name}=={version}\n" for name, version in prefer.values()))
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("".join(f"{n}=={v}\n" for n, v in (fixed or {}).values()))
        excludes = Path(tmp) / "excludes.txt"
        excludes.write_text("".join(f"{name}\n" for name in excluded or []))
        command = [
            uv(),
            "pip",
            "compile",
            *map(str, inputs),
            f"--output-file={out}",
            f"--constraint={constraints}",
            f"--excludes={excludes}",
            f"--python={sys.executable}",  # uv needs an interpreter, not one of this version
            f"--python-version={python or lock.python}",
            f"--python-platform={lock.platform}",
            "--no-header",
            "--no-annotate",
            "--no-config",
            "--quiet",
            *sources(lock),
            *(f"--upgrade-package={name}" for name in upgrade),
        ]
        env = {**os.environ, **(MACOS if "apple" in lock.platform else {})}
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        if result.returncode:
            on = f" on Python {python}" if python else ""
            raise LockError(f"{lock.name}: uv could not resolve it{on}:\n{result.stderr.strip()}")
        return read_pins(out)


def lock_pins(lock: Lock, written: dict[Lock, Pins], upgrade: list[str]) -> Pins:
    """The pins of `lock`'s file; `written` holds the files of this run so far."""

    def current(other: Lock) -> Pins:
        return written.get(other) or read_pins(other.output)

    cpu = current(lock.sibling(CPU)) if lock.target != CPU else {}
    pins = _lock_pins(lock, current, {**current(lock), **cpu}, upgrade)
    if differ := untested(lock, pins, cpu):
        raise LockError(
            f"{lock.name} pins what CI does not test: {', '.join(differ)}; if it must, "
            "add the package to DIFFERS_FROM_CPU in tools/lock.py"
        )
    return pins


def _lock_pins(
    lock: Lock, current: Callable[[Lock], Pins], prefer: Pins, upgrade: list[str]
) -> Pins:
    bases = LAYERS.get((lock.template, lock.target))
    if not bases:
        pins = resolve(lock, [lock.source], prefer, upgrade)
        if (lock.template, lock.target) in DIRECT_ONLY:
            named = {canonicalize_name(r.name) for r in requirements(lock.source)}
            pins = {name: pin for name, pin in pins.items() if name in named}
        return pins
    added: Pins = {}
    for target in bases:
        base = lock.sibling(target)
        below = current(base)
        combined = resolve(
            base,
            [base.source, lock.source],
            {**prefer, **added, **below},
            upgrade,
            fixed=below,
            excluded=EXCLUDED.get((lock.template, lock.target)),
        )
        moved = [
            f"{below[n][0]} {below[n][1]} -> {v}"
            for n, (_, v) in combined.items()
            if n in below and below[n][1] != v
        ]
        if moved:
            raise LockError(f"{lock.name} does not fit on {base.name}: it moves {', '.join(moved)}")
        for name, pin in combined.items():
            if name in below:
                continue
            if name in added and added[name][1] != pin[1]:
                raise LockError(
                    f"{lock.name}: {pin[0]} resolves to {added[name][1]} and {pin[1]} "
                    f"on {' and '.join(bases)}"
                )
            added[name] = pin
    return added


def other_pythons(lock: Lock) -> list[str]:
    """The Pythons besides the default that the framework offers and `lock`'s file must serve."""
    if lock.template == SHARED or (lock.template, lock.target) in LAYERS:
        return []
    if any(source.startswith("--find-links") for source in sources(lock)):
        return []  # local wheels hold what they hold: one Python's build of torch
    return [v for v in FRAMEWORKS[lock.template].python_versions if v != lock.python]


def untested(lock: Lock, pins: Pins, cpu: Pins) -> list[str]:
    """The pins of `lock` that differ from cpu.txt's (local versions aside: 2.13.0+cpu)."""
    allowed = DIFFERS_FROM_CPU.get((lock.template, lock.target), set())
    return sorted(
        f"{written} {version} (cpu.txt: {cpu[name][1]})"
        for name, (written, version) in pins.items()
        if name in cpu and name not in allowed and _public(version) != _public(cpu[name][1])
    )


def _public(version: str) -> str:
    return version.split("+", 1)[0]


def check_pythons(lock: Lock, pins: Pins) -> None:
    """The pins resolve to themselves on every other Python the framework offers."""
    for python in other_pythons(lock):
        with tempfile.TemporaryDirectory() as tmp:
            pinned = Path(tmp) / f"{lock.target}.txt"
            pinned.write_text("".join(f"{n}=={v}\n" for n, v in pins.values()))
            found = resolve(lock, [pinned], pins, [], python)
        moved = sorted(
            f"{name} {pins[name][1] if name in pins else '(none)'} -> "
            f"{found[name][1] if name in found else '(none)'}"
            for name in pins.keys() | found.keys()
            if pins.get(name, ("", ""))[1] != found.get(name, ("", ""))[1]
        )
        if moved:
            raise LockError(f"{lock.name} differs on Python {python}: {', '.join(moved)}")


def render(lock: Lock, pins: Pins) -> str:
    """The file: the list's header, then every pin in canonical-name order."""
    spelled = {name: written for name, (written, _) in read_pins(lock.output).items()}
    extras = {
        canonicalize_name(r.name): "[" + ",".join(sorted(r.extras)) + "]"
        for r in requirements(lock.source)
        if r.extras
    }
    lines = header(lock.source)
    for name in sorted(pins):
        written, version = pins[name]
        lines.append(f"{spelled.get(name, written)}{extras.get(name, '')}=={version}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--framework", help="only this template (pytorch, tensorflow, jax, _shared)"
    )
    parser.add_argument("--target", help="only this target (cpu, cuda, tpu, apple, export, dev)")
    parser.add_argument(
        "--upgrade-package",
        action="append",
        default=[],
        metavar="NAME",
        help="let NAME move to its newest allowed version (repeat for more)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 with a diff where a committed file is stale",
    )
    args = parser.parse_args(argv)
    try:
        return run(args.framework, args.target, args.upgrade_package, args.check)
    except LockError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def run(framework: str | None, target: str | None, upgrade: list[str], check: bool) -> int:
    """Resolve the selected lists; write their files (all or none), or diff them with `check`."""
    known = all_locks()
    locks = [lock for lock in known if framework in (None, lock.template)]
    locks = [lock for lock in locks if target in (None, lock.target)]
    if not locks:
        names = ", ".join(lock.name for lock in known)
        print(
            f"error: no input list for {framework or '*'}/{target or '*'} (there are: {names})",
            file=sys.stderr,
        )
        return 2
    pinned = {name for lock in locks for name in read_pins(lock.output)}
    if unknown := [name for name in upgrade if canonicalize_name(name) not in pinned]:
        print(
            f"error: --upgrade-package {' '.join(unknown)}: no selected file pins it",
            file=sys.stderr,
        )
        return 2
    written: dict[Lock, Pins] = {}
    changed: dict[Lock, str] = {}
    for lock in locks:
        start = time.perf_counter()
        written[lock] = lock_pins(lock, written, upgrade)
        check_pythons(lock, written[lock])
        text = render(lock, written[lock])
        old = lock.output.read_text() if lock.output.is_file() else ""
        state = "unchanged" if text == old else ("stale" if check else "written")
        also = ", ".join(other_pythons(lock))
        print(
            f"{lock.name:<18} {len(written[lock]):3} pins  {state:<9}"
            f"  ({time.perf_counter() - start:.1f} s{', also Python ' + also if also else ''})"
        )
        if text == old:
            continue
        changed[lock] = text
        if check:
            relative = lock.output.relative_to(ROOT).as_posix()
            sys.stdout.writelines(
                difflib.unified_diff(
                    old.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    f"{relative} (committed)",
                    f"{relative} (from {lock.source.relative_to(ROOT)})",
                )
            )
    if check and changed:
        print(
            f"{len(changed)} stale: run `make lock` and commit locks/ and the files together",
            file=sys.stderr,
        )
        return 1
    for lock, text in changed.items():
        lock.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
