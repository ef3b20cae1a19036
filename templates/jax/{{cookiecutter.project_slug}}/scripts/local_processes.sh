#!/usr/bin/env bash
# Rehearse a multi-host job on one machine: N training processes on the CPU, joined through
# jax.distributed (a coordinator on 127.0.0.1) exactly as hosts of a cluster or TPU pod are.
#   scripts/local_processes.sh 2 trainer.max_steps=20 run.name=rehearsal
set -euo pipefail

processes=${1:?usage: scripts/local_processes.sh NUM_PROCESSES [key=value ...]}
shift
port=${PORT:-8476}
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' INT TERM
for ((id = 0; id < processes; id++)); do
  JAX_PLATFORMS=cpu JAX_COORDINATOR_ADDRESS="127.0.0.1:${port}" \
    JAX_NUM_PROCESSES="${processes}" JAX_PROCESS_ID="${id}" \
    "${PYTHON:-python}" -m {{ cookiecutter.package_name }}.train "$@" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do
  wait "${pid}" || status=$?
done
exit "${status}"
