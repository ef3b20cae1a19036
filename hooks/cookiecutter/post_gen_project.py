"""Cookiecutter post-generation hook: first git commit and next steps."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path({{ cookiecutter._repo_dir | tojson }}).resolve().parents[1] / "hooks"))
from dlstart_hooks import post_generate  # noqa: E402

post_generate(Path.cwd(), {{ cookiecutter.package_name | tojson }})
