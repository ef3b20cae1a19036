"""Baking the generated image project a throughput benchmark measures."""

from __future__ import annotations

from pathlib import Path

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
