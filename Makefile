VENV ?= .venv
PYTHON ?= python3
FRAMEWORK ?= pytorch
TASK ?= image
DEMO ?= build/demo
NAME ?=

.PHONY: help demo test test-full sync bench bench-update bench-train bench-pretrained bench-serve bench-browser

help:  ## this list; variables: FRAMEWORK, TASK, DEMO (folder), NAME (project name), VENV
	@awk -F':.*## ' '/^[a-z-]+:.*## / {printf "  make %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  now: FRAMEWORK=$(FRAMEWORK) TASK=$(TASK) DEMO=$(DEMO) NAME=$(NAME) VENV=$(VENV)"

$(VENV)/bin/dlstart: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $@

# A previous demo is never touched: a taken DEMO folder becomes DEMO-2, DEMO-3, ...
# retries=0: where PyTorch's wheel index is unreachable, pip moves on at once.
demo: $(VENV)/bin/dlstart  ## generate a project in DEMO (a new folder), install its CPU environment, train a step
	@dest='$(DEMO)'; n=2; while [ -e "$$dest" ]; do dest='$(DEMO)'-$$n; n=$$((n + 1)); done; \
	echo "make demo: generating into $$dest"; \
	$(VENV)/bin/dlstart new "$$dest" --yes --framework $(FRAMEWORK) --task $(TASK) --hardware cpu \
	    $(if $(NAME),--name '$(NAME)') \
	&& PIP_RETRIES=0 $(MAKE) -C "$$dest" setup sample \
	&& $(MAKE) -C "$$dest" train ARGS="trainer.max_steps=1 run.name=demo"

test: $(VENV)/bin/dlstart  ## ruff, then every test but the fuller matrices (generated projects run in .venvs/)
	$(VENV)/bin/ruff check src tests bench tools hooks migrations
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup -m "not full" --durations=30

test-full: $(VENV)/bin/dlstart  ## the rest of the matrices make test samples, and torchrun elastic restarts (pytest -m full): run before closing an issue
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup -m full

sync:  ## write the generated parts of the templates (see CONTRIBUTING.md)
	$(PYTHON) tools/sync_templates.py

# make lock FRAMEWORK=jax TARGET=cuda: one file; UPGRADE="numpy": let that package move.
.PHONY: lock lock-check
LOCK_ARGS = $(if $(filter command line environment,$(origin FRAMEWORK)),--framework $(FRAMEWORK)) \
	$(if $(TARGET),--target $(TARGET)) $(addprefix --upgrade-package=,$(UPGRADE))

lock: $(VENV)/bin/dlstart  ## pin the templates' requirements/*.txt from their input lists in locks/ (uv)
	$(VENV)/bin/python tools/lock.py $(LOCK_ARGS)
	$(VENV)/bin/python tools/sync_templates.py  # the shared dev.txt into each template

lock-check: $(VENV)/bin/dlstart  ## resolve locks/ into a temp dir; fail with a diff where a requirements file is stale
	$(VENV)/bin/python tools/lock.py --check $(LOCK_ARGS)

bench: $(VENV)/bin/dlstart  ## time dlstart new against raw copier and cookiecutter
	$(VENV)/bin/python bench/generate.py

bench-update: $(VENV)/bin/dlstart  ## time dlstart update against raw copier update
	$(VENV)/bin/python bench/update.py

# The framework's test environment (.venvs/), with cookiecutter added to bake the project.
bench-train: $(VENV)/bin/dlstart  ## samples/s of the generated FRAMEWORK image project vs a hand-written loop
	python=$$($(VENV)/bin/python -c 'from tests.harness import framework_env; print(framework_env("$(FRAMEWORK)").python)') \
	&& $$python -m pip install --quiet 'cookiecutter>=2.6,<3' \
	&& $$python bench/train_throughput.py --framework $(FRAMEWORK)

# The framework's test environment with requirements/pretrained.txt layered on
# (tests/test_pretrained.py, tests/test_pretrained_tensorflow.py, tests/test_pretrained_jax.py).
bench-pretrained: $(VENV)/bin/dlstart  ## samples/s fine-tuning a pretrained image backbone (FRAMEWORK=pytorch|tensorflow|jax) vs a hand-written loop
	python=$$($(VENV)/bin/python -c 'import sys; from tests import test_pretrained as p, test_pretrained_tensorflow as t; print((t.keras_hub_env() if sys.argv[1] == "tensorflow" else p.pretrained_env(sys.argv[1])).python)' $(FRAMEWORK)) \
	&& $$python -m pip install --quiet 'cookiecutter>=2.6,<3' \
	&& $$python bench/pretrained.py --framework $(FRAMEWORK) $(ARGS)

bench-serve: $(VENV)/bin/dlstart  ## req/s, p50/p99 and memory of each framework's image server, batching on vs off
	$(VENV)/bin/python bench/serve_load.py $(ARGS)

bench-browser: $(VENV)/bin/dlstart  ## in-browser inference ms per example, each framework x task (ARGS="--task image")
	$(VENV)/bin/python bench/browser.py $(ARGS)
