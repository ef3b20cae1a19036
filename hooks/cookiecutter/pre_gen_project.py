"""Cookiecutter pre-generation hook: refuse invalid names before anything is written."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path({{ cookiecutter._repo_dir | tojson }}).resolve().parents[1] / "hooks"))
from dlstart_hooks import check_names  # noqa: E402

error = check_names({{ cookiecutter.project_slug | tojson }}, {{ cookiecutter.package_name | tojson }})
if error:
    print(f"ERROR: {error}", file=sys.stderr)
    sys.exit(1)
