VENV ?= .venv
PYTHON ?= python3

.PHONY: test sync bench

$(VENV)/bin/dlstart: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $@

test: $(VENV)/bin/dlstart  ## install dlstart and its test tools into .venv; ruff, then pytest
	$(VENV)/bin/ruff check src tests bench tools hooks migrations
	$(VENV)/bin/python -m pytest

sync:  ## write the generated parts of the templates (see CONTRIBUTING.md)
	python tools/sync_templates.py

bench: $(VENV)/bin/dlstart  ## time dlstart new against raw copier and cookiecutter
	$(VENV)/bin/python bench/generate.py
