#!/usr/bin/env bash
# The README's first command: installs what is needed, builds, starts a local 3-node cluster
# (`orderctl playground up`) and runs the demo purchase workload against it, printing results.
# The cluster keeps running afterwards; stop it with:
#   target/debug/orderctl playground down --dir playground-data
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --workspace --bins
bin="${CARGO_TARGET_DIR:-target}/debug"
dir="${PLAYGROUND_DIR:-playground-data}"

# A previous playground in the same directory is stopped first.
if [ -f "$dir/cluster.json" ]; then
  "$bin/orderctl" playground down --dir "$dir" --purge || true
fi
"$bin/orderctl" playground up --nodes 3 --shards 8 --dir "$dir" --orderd "$bin/orderd"
"$bin/orderctl" demo --orders "${DEMO_ORDERS:-500}" --concurrency 32
echo
"$bin/orderctl" cluster status
echo
echo "The cluster is still running. Try:"
echo "  $bin/orderctl order place --customer alice --item SKU-1:2:1250"
echo "  $bin/orderctl stock get sku-grinder"
echo "  $bin/orderctl saga list --state COMPENSATED --limit 5"
echo "  $bin/orderctl playground down --dir $dir"
