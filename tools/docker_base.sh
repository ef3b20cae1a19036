#!/usr/bin/env bash
# Base images cannot be pulled where dlstart's CI runs, so the serving-image test builds on a
# stand-in for `python:3.11-slim` made from Debian's packages (bookworm's Python is 3.11):
#   tools/docker_base.sh [IMAGE]     # does nothing when IMAGE is already present
# Needs root, debootstrap and a running Docker daemon.
set -euo pipefail
image=${1:-python:3.11-slim}
if docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase \
  --include=python3,python3-venv,python3-pip,ca-certificates,passwd bookworm "$root" >/dev/null
rm -f "$root"/usr/lib/python3*/EXTERNALLY-MANAGED
ln -sf /usr/bin/python3 "$root/usr/local/bin/python"
ln -sf /usr/bin/pip3 "$root/usr/local/bin/pip"
# pip in the container trusts what pip here trusts.
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
tar -C "$root" -c . | docker import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$image" >/dev/null
echo "built the stand-in $image"
