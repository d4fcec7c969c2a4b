#!/usr/bin/env bash
# check_metrics.sh WORKLOAD DIR - run the known workload (which checks its exact counter values),
# then have promtool lint the real rendered output. Fails loudly when promtool is missing.
set -euo pipefail
workload=$1 dir=$2
mkdir -p "$dir"
if ! command -v promtool >/dev/null; then
  echo "check_metrics: FAILED: promtool not found (Debian package 'prometheus'; scripts/install-deps.sh installs it)" >&2
  exit 1
fi
"$workload" metrics "$dir"
promtool check metrics < "$dir/metrics.prom"
echo "check_metrics: promtool accepts $(grep -vc '^#' "$dir/metrics.prom") samples"
