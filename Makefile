.PHONY: sync
sync:  ## write the generated parts of the templates (see CONTRIBUTING.md)
	python tools/sync_templates.py
