#!/usr/bin/env bash
# Admission control at 3x saturation (issue 7): is the p99 of *admitted* requests bounded, and
# does the nodes' memory stay flat, when clients offer three times what the cluster can take?
#
#   benches/overload.sh [--duration SECS]
#
# 1. Measures the saturation throughput T of a 3-node playground (default limits) with a closed
#    loop of 256 clients (order-write): throughput no longer grows with more clients there.
# 2. Offers 3T/s open loop (arrivals do not wait for answers; latency counts from the intended
#    start, so there is no coordinated omission), SDK retries off: a refused request
#    (RESOURCE_EXHAUSTED) is counted, not retried; latency figures are the admitted requests'.
#    The playground has admission limits sized for this 2-core machine (below).
# 3. Does the same on a playground whose limits are effectively off, for comparison in the
#    same run. Each phase starts a fresh playground, so memory starts from the same point.
# While each open loop runs, the summed RSS of the three orderd processes is sampled every
# second. Writes benches/results/overload.md. Tears everything down on exit. Respects
# CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
duration=20
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="$2"; shift ;;
    *) echo "usage: benches/overload.sh [--duration SECS]" >&2; exit 2 ;;
  esac
  shift
done

cargo build --workspace --bins
bin="${CARGO_TARGET_DIR:-target}/debug"
work=$(mktemp -d /tmp/order-overload.XXXXXX)
sampler=""
teardown() {
  set +e
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
  for d in "$work"/pg-*; do
    [ -d "$d" ] && "$bin/orderctl" playground down --dir "$d" --purge >/dev/null 2>&1
  done
  rm -rf "$work"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# Limits for a 2-core machine: 128 requests served at once per node, 256 waiting at most 50 ms.
admission_env=(ORDERSTORE_LIMITS_MAX_INFLIGHT_REQUESTS=128 ORDERSTORE_LIMITS_MAX_QUEUED_REQUESTS=256
  ORDERSTORE_LIMITS_QUEUE_TIMEOUT_MS=50 ORDERSTORE_LIMITS_MAX_SHARD_PROPOSALS=256
  ORDERSTORE_LIMITS_RETRY_AFTER_MS=50)
unbounded_env=(ORDERSTORE_LIMITS_MAX_INFLIGHT_REQUESTS=1000000
  ORDERSTORE_LIMITS_MAX_QUEUED_REQUESTS=1000000 ORDERSTORE_LIMITS_QUEUE_TIMEOUT_MS=600000
  ORDERSTORE_LIMITS_MAX_SHARD_PROPOSALS=1000000)

up() { # name [env...]
  local name=$1; shift
  env "$@" "$bin/orderctl" playground up --nodes 3 --dir "$work/pg-$name" --base-port 0 \
    --orderd "$bin/orderd" >/dev/null
}
down() { "$bin/orderctl" playground down --dir "$work/pg-$1" --purge >/dev/null; }
pids() { python3 -c "import json,sys; print(' '.join(str(n['pid']) for n in json.load(open(sys.argv[1]))['nodes']))" "$work/pg-$1/cluster.json"; }
sample_rss() { # name -> background sampler writing KiB sums, one per second
  local p; p=$(pids "$1")
  ( while true; do ps -o rss= -p ${p// /,} | awk '{s+=$1} END {print s}'; sleep 1; done ) \
    >"$work/rss-$1" &
  sampler=$!
}
stop_sampler() { kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true; sampler=""; }
field() { # results.json key -> value of orderstore's summary
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['workloads'][0]['systems'][0]['summary'][sys.argv[2]])" "$1/results.json" "$2"
}
errors() {
  python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['workloads'][0]['systems'][0]['summary']; print(sum(s['error_kinds'].values()), dict(s['error_kinds']))" "$1/results.json"
}
bench() { # name out args...
  local name=$1 out=$2; shift 2
  "$bin/order-bench" run --workload order-write --against orderstore \
    --orderstore-manifest "$work/pg-$name/cluster.json" --out "$out" "$@" >/dev/null
}

echo "== saturation (closed loop, 256 clients, default limits)"
up sat
bench sat "$work/sat" --clients 256 --duration 15s --warmup 3s
down sat
sat=$(field "$work/sat" throughput)
rate=$(python3 -c "print(round(3*$sat))")
echo "saturation: $sat ops/s; offering 3x = $rate/s"

run_open() { # name
  sample_rss "$1"
  bench "$1" "$work/open-$1" --mode open --rate "$rate" --duration "${duration}s" --warmup 3s \
    --orderstore-max-retries 0 --op-timeout 30s --max-in-flight 8192
  stop_sampler
}
echo "== 3x open loop, admission limits on"
up admission "${admission_env[@]}"
run_open admission
down admission
echo "== 3x open loop, limits off"
up unbounded "${unbounded_env[@]}"
run_open unbounded
down unbounded

report() { # name
  local d="$work/open-$1" rss="$work/rss-$1"
  local first last max
  first=$(head -1 "$rss"); last=$(tail -1 "$rss"); max=$(sort -n "$rss" | tail -1)
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %d / %d / %d |\n' "$1" \
    "$(field "$d" ops)" "$(errors "$d" | cut -d' ' -f1)" "$(field "$d" throughput)" \
    "$(field "$d" p50_ms)" "$(field "$d" p99_ms)" "$(field "$d" max_ms)" "$(field "$d" dropped)" \
    $((first / 1024)) $((last / 1024)) $((max / 1024))
}
rss_series() { # name -> the summed RSS in MiB at every fifth sample: does it level off?
  awk 'NR % 5 == 1 {printf "%s%d", sep, $1 / 1024; sep = " "} END {print ""}' "$work/rss-$1"
}
out="$root/benches/results/overload.md"
{
  echo "# Admission control at 3x saturation"
  echo
  echo "Written by \`benches/overload.sh --duration $duration\` on $(date -u '+%Y-%m-%d %H:%M UTC'),"
  echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) CPUs (the load generator shares them with the"
  echo "three nodes), load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "- saturation (closed loop, 256 clients, order-write): **$sat ops/s** (p99 $(field "$work/sat" p99_ms) ms)"
  echo "- offered: **$rate ops/s** open loop for ${duration} s, SDK retries off"
  echo "- limits on: ${admission_env[*]}"
  echo "- limits off: ${unbounded_env[*]}"
  echo
  echo "| limits | admitted ops | refused/errors | admitted ops/s | p50 ms | p99 ms | max ms | client-dropped | RSS MiB first / last / max (3 nodes) |"
  echo "|---|---|---|---|---|---|---|---|---|"
  report admission
  report unbounded
  echo
  echo "Errors by kind: on: $(errors "$work/open-admission" | cut -d' ' -f2-); off: $(errors "$work/open-unbounded" | cut -d' ' -f2-)"
  echo
  echo "RSS of the three nodes every 5 s from the start of the open loop (MiB):"
  echo
  echo "- admission: $(rss_series admission)"
  echo "- unbounded: $(rss_series unbounded)"
} >"$out"
cat "$out"
