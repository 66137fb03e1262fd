#!/usr/bin/env bash
# Reproduces the comparison table in benches/RESULTS.md with one command:
#   benches/run.sh            # quick: order-write + order-read, ~10 s per system and workload
#   benches/run.sh --full     # 30 s measured per system and workload, plus mixed-a / mixed-b
#   benches/run.sh -- ARGS    # extra order-bench arguments (e.g. -- --clients 32)
#   benches/run.sh --purchases [--full]   # flash-sale + saga-throughput, orderstore only
#                             # (the peers have no saga), into the "Purchases" section
#
# Installs the peers if missing (Debian: etcd-server, etcd-client, postgresql), builds every
# binary, starts a 3-member etcd cluster, a private PostgreSQL (synchronous_commit = on) and a
# 3-node orderstore playground (replication factor 3), all on 127.0.0.1 with free ports and data
# in one temporary directory; runs `order-bench run` against the three in sequence; writes
# benches/results/{summary.md,results.json,latency.svg} and benches/RESULTS.md; and tears
# everything down on exit, also on failure or Ctrl-C. Respects CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

mode=quick
purchases=""
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --full) mode=full ;;
    --quick) mode=quick ;;
    --purchases) purchases=1 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "usage: benches/run.sh [--quick|--full] [--purchases] [-- order-bench args]" >&2; exit 2 ;;
  esac
  shift
done

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

# --- 1. peers installed? -------------------------------------------------------------------
# (not for --purchases: only orderstore has inventory, payments and sagas)
if [ -z "$purchases" ]; then
  need=()
  command -v etcd >/dev/null || need+=(etcd-server)
  command -v etcdctl >/dev/null || need+=(etcd-client)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi

# --- 2. build ------------------------------------------------------------------------------
# The whole workspace, like CI, so features unify the same way and nothing is rebuilt twice.
cargo build --workspace --bins
bin="${CARGO_TARGET_DIR:-target}/debug"
[ -x "$bin/order-bench" ] || { echo "order-bench not built in $bin" >&2; exit 1; }

# --- 3. start the systems, with teardown on any exit -----------------------------------------
work=$(mktemp -d /tmp/order-bench.XXXXXX)
chmod 755 "$work"
etcd_pids=()
pg_started=""
os_started=""
teardown() {
  set +e
  echo "tearing down $work"
  if [ -n "$os_started" ]; then
    "$bin/orderctl" playground down --dir "$work/orderstore" --purge >/dev/null 2>&1
  fi
  if [ -n "$pg_started" ]; then
    as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -m immediate -w stop >/dev/null 2>&1
  fi
  for pid in "${etcd_pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${etcd_pids[@]}"; do wait "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# PostgreSQL refuses to run as root: use the `postgres` system user when we are root.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ -z "$purchases" ]; then
mapfile -t ports < <("$bin/order-bench" free-ports 7)
ec=("${ports[0]}" "${ports[1]}" "${ports[2]}")   # etcd client ports
ep=("${ports[3]}" "${ports[4]}" "${ports[5]}")   # etcd peer ports
pgport="${ports[6]}"

echo "starting etcd (3 members)"
initial=""
for i in 0 1 2; do initial+="${initial:+,}m$i=http://127.0.0.1:${ep[$i]}"; done
for i in 0 1 2; do
  # Durable defaults: the WAL is fsynced before a write is acknowledged.
  etcd --name "m$i" --data-dir "$work/etcd$i" \
    --listen-client-urls "http://127.0.0.1:${ec[$i]}" \
    --advertise-client-urls "http://127.0.0.1:${ec[$i]}" \
    --listen-peer-urls "http://127.0.0.1:${ep[$i]}" \
    --initial-advertise-peer-urls "http://127.0.0.1:${ep[$i]}" \
    --initial-cluster "$initial" --initial-cluster-token order-bench \
    --initial-cluster-state new >"$work/etcd$i.log" 2>&1 &
  etcd_pids+=($!)
done
etcd_endpoints="127.0.0.1:${ec[0]},127.0.0.1:${ec[1]},127.0.0.1:${ec[2]}"
for _ in $(seq 1 60); do
  if ETCDCTL_API=3 etcdctl --endpoints="$etcd_endpoints" endpoint health >/dev/null 2>&1; then
    break
  fi
  sleep 0.5
done
ETCDCTL_API=3 etcdctl --endpoints="$etcd_endpoints" endpoint health \
  || { tail -20 "$work"/etcd*.log; exit 1; }

echo "starting PostgreSQL $(basename "$(dirname "$pgbin")") (synchronous_commit = on)"
mkdir -p "$work/pg"
if [ "$(id -u)" -eq 0 ]; then chown postgres "$work/pg"; fi
as_pg "$pgbin/initdb" -D "$work/pg/data" -A trust -U postgres >"$work/pg/initdb.log" 2>&1
pg_started=1
as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/server.log" -w -t 60 \
  -o "-c port=$pgport -c listen_addresses=127.0.0.1 -c unix_socket_directories=$work/pg \
      -c synchronous_commit=on -c fsync=on -c max_connections=300" start >/dev/null
as_pg "$pgbin/createdb" -h 127.0.0.1 -p "$pgport" -U postgres bench
postgres_url="host=127.0.0.1 port=$pgport user=postgres dbname=bench"
fi

echo "starting orderstore playground (3 nodes, rf 3)"
os_started=1
"$bin/orderctl" playground up --nodes 3 --dir "$work/orderstore" --base-port 0 \
  --orderd "$bin/orderd" >/dev/null

# --- 4. run ---------------------------------------------------------------------------------
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then commit="$commit-dirty"; fi
out="$root/benches/results"
if [ -n "$purchases" ]; then
  out="$root/benches/results/purchases"
  args=(--workload flash-sale,saga-throughput --clients 64 --against orderstore)
  if [ "$mode" = quick ]; then args=(--quick "${args[@]}"); fi
  cmd=("$bin/order-bench" run "${args[@]}"
    --orderstore-manifest "$work/orderstore/cluster.json" --out "$out" --git-commit "$commit"
    "${extra[@]}")
else
  if [ "$mode" = quick ]; then
    args=(--quick --workload order-write,order-read)
  else
    args=(--workload order-write,order-read,mixed-a,mixed-b)
  fi
  args+=(--clients 64 --against orderstore,etcd,postgres)
  cmd=("$bin/order-bench" run "${args[@]}"
    --orderstore-manifest "$work/orderstore/cluster.json" --etcd-endpoints "$etcd_endpoints"
    --postgres-url "$postgres_url" --out "$out" --git-commit "$commit" "${extra[@]}")
fi
"${cmd[@]}"

# --- 5. RESULTS.md -------------------------------------------------------------------------
# The comparison table and the "## Purchases" section (last in the file) are written by
# separate invocations; each keeps the other's text.
results="$root/benches/RESULTS.md"
if [ -n "$purchases" ]; then
  {
    [ -f "$results" ] && awk '/^## Purchases$/ {exit} {print}' "$results"
    echo "## Purchases"
    echo
    echo "Written by \`benches/run.sh --purchases$( [ "$mode" = full ] && echo " --full")\`: orderstore only — etcd and"
    echo "PostgreSQL have no inventory, payments or saga — so absolute figures against the brief"
    echo "(1,000 purchases/s at peak, purchase p99 < 300 ms, remaining-stock read p99 < 100 ms)."
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- git commit: $commit"
    echo "- machine: $(nproc) CPUs, $(uname -sr); load average before / after: $load_before / $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- orderstore: 3-node playground, 8 shards, replication factor 3, \`dev\` profile build"
    echo "- command: \`order-bench run ${args[*]} ${extra[*]}\`"
    echo
    sed 's/^### /#### /' "$out/summary.md"
  } >"$results.new"
  mv "$results.new" "$results"
  echo "wrote the Purchases section of benches/RESULTS.md"
  exit 0
fi
kept=""
if [ -f "$results" ]; then kept=$(awk '/^## Purchases$/ {p=1} p {print}' "$results"); fi
{
  echo "# Benchmark results"
  echo
  echo "Written by \`benches/run.sh$( [ "$mode" = full ] && echo " --full")\`; do not edit by hand"
  echo "(analysis lives in [README.md](README.md#what-limits-orderstore))."
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- git commit: $commit"
  echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) memory, $(uname -sr)"
  echo "- peers: $(etcd --version | head -1) (3 members); PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') (1 node, synchronous_commit = on)"
  echo "- orderstore: 3-node playground, 8 shards, replication factor 3, \`dev\` profile build"
  echo "- all on one machine over 127.0.0.1; systems are measured one after another"
  echo "- load average before / after the run: $load_before / $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews absolute figures; compare ratios)"
  echo "- command: \`benches/run.sh$( [ "$mode" = full ] && echo " --full")\`, which ran"
  echo "  \`order-bench run ${args[*]} ${extra[*]}\`"
  echo
  cat "$out/summary.md"
  echo "![latency percentiles and throughput](results/latency.svg)"
  if [ -n "$kept" ]; then echo; echo "$kept"; fi
} >"$results"
echo "wrote benches/RESULTS.md"
