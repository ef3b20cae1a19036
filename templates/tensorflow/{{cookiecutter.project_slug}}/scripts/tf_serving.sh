#!/usr/bin/env bash
# Serve the exported SavedModel with TensorFlow Serving (REST on :8501, gRPC on :8500).
#   make export && scripts/tf_serving.sh [runs/baseline/export]
#   curl -s localhost:8501/v1/models/{{ cookiecutter.package_name }}/metadata
#   curl -s localhost:8501/v1/models/{{ cookiecutter.package_name }}:predict -d '{"inputs": {...}}'
# TF Serving takes model inputs (the arrays preprocessor.json produces), not raw requests:
# put `python -m {{ cookiecutter.package_name }}.serve` in front of it, or encode on the client.
# Untested: the template's tests cannot run TF Serving; they check the SavedModel layout it reads.
set -euo pipefail
export_dir="$(cd "${1:-runs/baseline/export}" && pwd)"
docker run --rm -p 8500:8500 -p 8501:8501 \
  -v "$export_dir/serving/{{ cookiecutter.package_name }}:/models/{{ cookiecutter.package_name }}:ro" \
  -e MODEL_NAME={{ cookiecutter.package_name }} \
  tensorflow/serving
