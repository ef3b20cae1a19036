VENV ?= .venv
PYTHON ?= python3
FRAMEWORK ?= pytorch
TASK ?= image
DEMO ?= build/demo

.PHONY: demo test sync bench bench-update bench-train bench-serve

$(VENV)/bin/dlstart: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/bin/dlstart  ## generate $(DEMO) ($(FRAMEWORK), $(TASK)), install its pinned CPU environment, train one step
	rm -rf $(DEMO)
	$(VENV)/bin/dlstart new $(DEMO) --yes --framework $(FRAMEWORK) --task $(TASK) --hardware cpu
	# retries=0: where PyTorch's wheel index is unreachable, pip moves on at once
	PIP_RETRIES=0 $(MAKE) -C $(DEMO) setup sample
	$(MAKE) -C $(DEMO) train ARGS="trainer.max_steps=1 run.name=demo"

test: $(VENV)/bin/dlstart  ## ruff, then every test (generated projects run in .venvs/<framework>-*)
	$(VENV)/bin/ruff check src tests bench tools hooks migrations
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup

sync:  ## write the generated parts of the templates (see CONTRIBUTING.md)
	$(PYTHON) tools/sync_templates.py

bench: $(VENV)/bin/dlstart  ## time dlstart new against raw copier and cookiecutter
	$(VENV)/bin/python bench/generate.py

bench-update: $(VENV)/bin/dlstart  ## time dlstart update against raw copier update
	$(VENV)/bin/python bench/update.py

# The framework's test environment (.venvs/), with cookiecutter added to bake the project.
bench-train: $(VENV)/bin/dlstart  ## samples/s of the generated $(FRAMEWORK) image project vs a hand-written loop
	python=$$($(VENV)/bin/python -c 'from tests.harness import framework_env; print(framework_env("$(FRAMEWORK)").python)') \
	&& $$python -m pip install --quiet 'cookiecutter>=2.6,<3' \
	&& $$python bench/train_throughput.py --framework $(FRAMEWORK)

bench-serve: $(VENV)/bin/dlstart  ## req/s, p50/p99 and memory of each framework's image server, batching on vs off
	$(VENV)/bin/python bench/serve_load.py $(ARGS)
