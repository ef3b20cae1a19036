"""Baking the generated image project a throughput benchmark measures, and importing it."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def bake_image_project(framework: str, out: Path, package: str) -> Path:
    """`templates/<framework>` baked for the image task into `out`; returns the project."""
    try:
        from cookiecutter.main import cookiecutter
    except ImportError:
        message = f"cookiecutter is missing: pip install cookiecutter (next to {framework})"
        raise SystemExit(message) from None
    context = {"project_name": "Bench image", "package_name": package, "task": "image"}
    project = cookiecutter(
        str(ROOT / "templates" / framework),
        no_input=True,
        output_dir=str(out),
        extra_context=context,
        accept_hooks=False,
    )
    return Path(project)


def import_modules(project: Path, package: str, *names: str) -> list[ModuleType]:
    """`<package>.<name>` for each name, imported from the baked project's src/."""
    sys.path.insert(0, str(project / "src"))
    return [importlib.import_module(f"{package}.{name}") for name in names]
