#!/usr/bin/env bash
# deploy/validate.sh: checks of everything under deploy/ that can run without Docker or a
# Kubernetes cluster.
#
#   deploy/validate.sh              all checks; tools that are missing are reported and skipped
#   deploy/validate.sh --strict     a missing tool counts as a failure
#   deploy/validate.sh --no-e2e     skip starting orderd
#
# Exit status: 0 when every check that ran passed (and, with --strict, none was skipped);
# 1 on a real problem. The summary at the end names the tools that were missing.
#
# Tools used when present: python3 with PyYAML (pip install pyyaml), docker compose (v2
# plugin) or docker-compose (v1), check-jsonschema (pip), kubectl (kustomize, offline),
# kubernetes-validate (pip), promtool (Debian package `prometheus`, or PROMTOOL=path)
# and shellcheck (Debian package). The end-to-end part needs built binaries: ORDERD_BIN /
# ORDERCTL_BIN, else target/{release,debug}/ or $CARGO_TARGET_DIR/{release,debug}/.
# It starts 3-node clusters on 127.0.70.0/24 and 127.0.71.0/24 (loopback only) and removes
# everything it started.
set -uo pipefail

STRICT=0
E2E=1
for arg in "$@"; do
  case $arg in
    --strict) STRICT=1 ;;
    --no-e2e) E2E=0 ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

DEPLOY=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$DEPLOY")
cd "$DEPLOY" || exit 1

FAILED=()
MISSING=()
pass() { printf 'PASS  %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*"; FAILED+=("$*"); }
skip() { local tool=$1; shift; printf 'SKIP  %s (missing: %s)\n' "$*" "$tool"; MISSING+=("$tool"); }
have() { command -v "$1" >/dev/null 2>&1; }
run_quiet() { # run_quiet LABEL CMD... : PASS/FAIL with the output shown on failure
  local label=$1; shift
  local out
  if out=$("$@" 2>&1); then pass "$label"; else fail "$label"; printf '%s\n' "$out" | sed 's/^/      /'; fi
}

HAVE_PYYAML=0
if have python3 && python3 -c 'import yaml' 2>/dev/null; then HAVE_PYYAML=1; fi

echo "== shell scripts"
for f in docker/orderstore-healthcheck docker/orderstore-k8s-entrypoint validate.sh; do
  run_quiet "bash -n $f" bash -n "$f"
  [[ -x $f ]] || fail "$f is not executable"
done
if have shellcheck; then
  run_quiet "shellcheck" shellcheck -S warning docker/orderstore-healthcheck docker/orderstore-k8s-entrypoint validate.sh
else
  skip shellcheck "shellcheck of the scripts"
fi

echo "== YAML / JSON syntax"
if ((HAVE_PYYAML)); then
  while IFS= read -r f; do
    run_quiet "YAML parses: $f" python3 -c '
import sys, yaml
with open(sys.argv[1]) as fh:
    docs = [d for d in yaml.safe_load_all(fh) if d is not None]
assert docs, "no YAML document"
' "$f"
  done < <(find . -name '*.yml' -o -name '*.yaml' | sort)
else
  skip "python3+pyyaml" "YAML parse of every manifest"
fi
if have python3; then
  run_quiet "JSON parses: monitoring/grafana-dashboard.json" python3 -m json.tool monitoring/grafana-dashboard.json
elif have jq; then
  run_quiet "JSON parses: monitoring/grafana-dashboard.json" jq empty monitoring/grafana-dashboard.json
else
  skip "python3 or jq" "JSON parse of the dashboard"
fi

echo "== Dockerfiles"
run_quiet "runtime stages of Dockerfile and Dockerfile.prebuilt are identical" \
  diff <(sed -n '/^# --- runtime/,$p' Dockerfile) <(sed -n '/^# --- runtime/,$p' Dockerfile.prebuilt)
check_copy_sources() {
  local ok=0 src
  for src in $(grep -hE '^COPY ' Dockerfile Dockerfile.prebuilt | grep -v -- '--from=' | awk '{for (i = 2; i < NF; i++) print $i}' | sort -u); do
    [[ $src == . ]] && continue
    [[ -e $REPO/$src ]] || { echo "COPY source $src does not exist in the repository"; ok=1; }
  done
  for pkg in node/Cargo.toml:orderstore-node client/Cargo.toml:orderstore-client; do
    grep -q "^name = \"${pkg#*:}\"" "$REPO/${pkg%%:*}" || { echo "package ${pkg#*:} not in ${pkg%%:*}"; ok=1; }
    grep -q -- "-p ${pkg#*:}" Dockerfile || { echo "Dockerfile does not build -p ${pkg#*:}"; ok=1; }
  done
  return $ok
}
run_quiet "COPY sources exist; cargo package names match node/ and client/" check_copy_sources
if have hadolint; then
  run_quiet "hadolint" hadolint --ignore DL3008 Dockerfile Dockerfile.prebuilt
else
  skip hadolint "Dockerfile lint"
fi

echo "== docker compose"
if have docker && docker compose version >/dev/null 2>&1; then
  run_quiet "docker compose config" docker compose -f docker-compose.yml config -q
elif have docker-compose; then
  run_quiet "docker-compose config" docker-compose -f docker-compose.yml config -q
else
  skip "docker compose plugin" "docker compose config"
fi
if have check-jsonschema; then
  run_quiet "compose file matches the compose-spec schema (check-jsonschema)" \
    check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
else
  skip check-jsonschema "compose-spec schema check"
fi
if ((HAVE_PYYAML)); then
  run_quiet "compose services, static IPs, node ids and cluster.toml agree" python3 - <<'PY'
import ipaddress, sys, tomllib, yaml
compose = yaml.safe_load(open("docker-compose.yml"))
cfg = tomllib.load(open("compose/cluster.toml", "rb"))
nodes = {n["id"]: n for n in cfg["nodes"]}
subnet = ipaddress.ip_network(compose["networks"]["orderstore"]["ipam"]["config"][0]["subnet"])
errors, seen = [], set()
for name, svc in compose["services"].items():
    env = svc.get("environment", {})
    nid = int(env["ORDERD_NODE_ID"])
    seen.add(nid)
    ip = svc["networks"]["orderstore"]["ipv4_address"]
    if ipaddress.ip_address(ip) not in subnet:
        errors.append(f"{name}: {ip} not in {subnet}")
    n = nodes.get(nid)
    if n is None:
        errors.append(f"{name}: node id {nid} not in cluster.toml"); continue
    for key in ("grpc_addr", "status_addr"):
        if n[key].rsplit(":", 1)[0] != ip:
            errors.append(f"{name}: {key} {n[key]} does not use its static IP {ip}")
    if not any(v.endswith(":/etc/orderstore/cluster.toml:ro") for v in svc.get("volumes", [])):
        errors.append(f"{name}: cluster.toml not mounted read-only")
    if env.get("ORDERD_CONFIG") != "/etc/orderstore/cluster.toml":
        errors.append(f"{name}: ORDERD_CONFIG is not /etc/orderstore/cluster.toml")
if seen != set(nodes):
    errors.append(f"node ids in compose {sorted(seen)} != cluster.toml {sorted(nodes)}")
endpoints = set(compose["services"]["node1"]["environment"]["ORDERSTORE_ENDPOINTS"].split(","))
if endpoints != {n["grpc_addr"] for n in nodes.values()}:
    errors.append("ORDERSTORE_ENDPOINTS does not list every grpc_addr")
print("\n".join(errors)); sys.exit(1 if errors else 0)
PY
fi

echo "== Kubernetes manifests"
K8S_RENDERED=$(mktemp)
trap 'rm -f "$K8S_RENDERED"' EXIT
if have kubectl; then
  run_quiet "kubectl kustomize k8s (offline render)" sh -c "kubectl kustomize k8s > '$K8S_RENDERED'"
else
  skip kubectl "kustomize render"
  cat k8s/namespace.yaml <(echo ---) k8s/configmap.yaml <(echo ---) k8s/services.yaml \
    <(echo ---) k8s/statefulset.yaml <(echo ---) k8s/pdb.yaml >"$K8S_RENDERED"
fi
if have kubernetes-validate; then
  run_quiet "kubernetes-validate --strict (schemas of the default Kubernetes version)" \
    kubernetes-validate --strict --quiet k8s/namespace.yaml k8s/configmap.yaml k8s/services.yaml k8s/statefulset.yaml k8s/pdb.yaml
else
  skip kubernetes-validate "Kubernetes schema validation"
fi
if ((HAVE_PYYAML)); then
  run_quiet "StatefulSet, Services, PDB and cluster template agree" python3 - "$K8S_RENDERED" <<'PY'
import re, sys, tomllib, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
by = {}
for d in docs:
    by.setdefault(d["kind"], []).append(d)
errors = []
sts = by["StatefulSet"][0]
spec = sts["spec"]
replicas = spec["replicas"]
c = spec["template"]["spec"]["containers"][0]
env = {e["name"]: e.get("value") for e in c["env"]}
tmpl = by["ConfigMap"][0]["data"]["cluster.toml.tmpl"]
if env.get("CLUSTER_SIZE") != str(replicas):
    errors.append(f"CLUSTER_SIZE {env.get('CLUSTER_SIZE')} != replicas {replicas}")
cfg = tomllib.loads(re.sub(r"@NODE_(\d+)_IP@", lambda m: f"10.0.0.{m.group(1)}", tmpl))
ids = sorted(n["id"] for n in cfg["nodes"])
if ids != list(range(1, replicas + 1)):
    errors.append(f"template node ids {ids} != 1..{replicas} (node id = ordinal + 1)")
for n in cfg["nodes"]:
    for key in ("grpc_addr", "status_addr"):
        if f"@NODE_{n['id']}_IP@" not in tmpl:
            errors.append(f"node {n['id']}: no @NODE_{n['id']}_IP@ placeholder")
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
if any(not n["grpc_addr"].endswith(f":{ports['grpc']}") or not n["status_addr"].endswith(f":{ports['status']}") for n in cfg["nodes"]):
    errors.append("template ports differ from containerPorts")
if spec.get("podManagementPolicy") != "Parallel":
    errors.append("podManagementPolicy must be Parallel (pods become ready only with a quorum)")
svcs = {s["metadata"]["name"]: s for s in by["Service"]}
if spec["serviceName"] not in svcs or svcs[spec["serviceName"]]["spec"].get("clusterIP") != "None":
    errors.append("serviceName is not a headless Service")
prefix = env.get("PEER_SERVICE_PREFIX")
sts_name = sts["metadata"]["name"]
for i in range(replicas):
    s = svcs.get(f"{prefix}-{i}")
    if s is None:
        errors.append(f"per-pod Service {prefix}-{i} missing"); continue
    if s["spec"].get("selector", {}).get("statefulset.kubernetes.io/pod-name") != f"{sts_name}-{i}":
        errors.append(f"{prefix}-{i} does not select pod {sts_name}-{i}")
    if not s["spec"].get("publishNotReadyAddresses"):
        errors.append(f"{prefix}-{i} needs publishNotReadyAddresses (peers talk before readiness)")
labels = spec["template"]["metadata"]["labels"]
for kind in ("Service", "PodDisruptionBudget"):
    for o in by[kind]:
        sel = o["spec"].get("selector", {})
        sel = sel.get("matchLabels", sel)
        if any(labels.get(k) != v for k, v in sel.items() if k != "statefulset.kubernetes.io/pod-name"):
            errors.append(f"{kind} {o['metadata']['name']} selector does not match the pod labels")
probes = {k: c[k]["httpGet"]["path"] for k in ("readinessProbe", "livenessProbe")}
if probes != {"readinessProbe": "/readyz", "livenessProbe": "/livez"}:
    errors.append(f"probes {probes}")
ann = spec["template"]["metadata"].get("annotations", {})
if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != str(ports["status"]):
    errors.append("prometheus.io annotations missing or wrong port")
if by["PodDisruptionBudget"][0]["spec"].get("maxUnavailable") != 1:
    errors.append("PDB maxUnavailable != 1")
for d in docs:
    if d["kind"] != "Namespace" and d["metadata"].get("namespace") != "orderstore":
        errors.append(f"{d['kind']} {d['metadata']['name']} not in namespace orderstore")
print("\n".join(errors)); sys.exit(1 if errors else 0)
PY
fi

echo "== Prometheus rules, config, metric names"
PROMTOOL=${PROMTOOL:-$(command -v promtool || true)}
if [[ -n $PROMTOOL && -x $PROMTOOL ]]; then
  run_quiet "promtool check rules monitoring/alerts.yml" "$PROMTOOL" check rules monitoring/alerts.yml
  if out=$("$PROMTOOL" check config monitoring/prometheus.yml 2>&1); then
    pass "promtool check config monitoring/prometheus.yml"
  elif grep -q 'kubernetes_sd_configs not found' <<<"$out" && ((HAVE_PYYAML)); then
    # Debian's prometheus package is built without Kubernetes service discovery.
    tmpdir=$(mktemp -d)
    python3 -c '
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
c["scrape_configs"] = [j for j in c["scrape_configs"] if "kubernetes_sd_configs" not in j]
yaml.safe_dump(c, open(sys.argv[2], "w"))' monitoring/prometheus.yml "$tmpdir/prometheus.yml"
    cp monitoring/alerts.yml "$tmpdir/"
    run_quiet "promtool check config (this promtool lacks kubernetes_sd: checked without the kubernetes job)" \
      "$PROMTOOL" check config "$tmpdir/prometheus.yml"
    rm -rf "$tmpdir"
  else
    fail "promtool check config monitoring/prometheus.yml"; printf '%s\n' "$out" | sed 's/^/      /'
  fi
else
  skip promtool "promtool check rules/config (apt-get install prometheus, or PROMTOOL=path)"
fi
if have python3; then
  run_quiet "every orderstore_* metric in dashboard/alerts is exported by node/src/metrics.rs" python3 - "$REPO/node/src/metrics.rs" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
fields = dict(re.findall(r"pub (\w+): (?:Family<\w+, )?(Counter|Gauge|Histogram)", src))
names = set()
for name, field in re.findall(r'register\(\s*"(\w+)",\s*"[^"]*",\s*(\w+)\.clone\(\)', src):
    base = "orderstore_" + name
    kind = fields[field]
    names.add(base)  # the family name, as written in descriptions
    names |= {base + "_total"} if kind == "Counter" else {base + s for s in ("_bucket", "_sum", "_count")} if kind == "Histogram" else {base}
if len(names) < 11:
    sys.exit(f"parsed only {len(names)} names from metrics.rs: parser out of date")
used = set()
for f in ("monitoring/grafana-dashboard.json", "monitoring/alerts.yml"):
    used |= set(re.findall(r"\borderstore_[a-z_]+", open(f).read()))
unknown = sorted(used - names)
print("unknown metric names:", unknown) if unknown else None
sys.exit(1 if unknown else 0)
PY
fi

if ((E2E)); then
  echo "== end to end with the built binaries (loopback only)"
  pick_bin() {
    local name=$1 var=$2 dir
    if [[ -n ${!var:-} ]]; then echo "${!var}"; return; fi
    for dir in "$REPO/target/release" "${CARGO_TARGET_DIR:-/nonexistent}/release" \
      "$REPO/target/debug" "${CARGO_TARGET_DIR:-/nonexistent}/debug" \
      /var/cache/orderstore-target/release /var/cache/orderstore-target/debug; do
      [[ -x $dir/$name ]] && { echo "$dir/$name"; return; }
    done
  }
  ORDERD=$(pick_bin orderd ORDERD_BIN)
  ORDERCTL=$(pick_bin orderctl ORDERCTL_BIN)
  if [[ -z $ORDERD ]]; then
    skip "orderd binary" "end-to-end start of the compose and Kubernetes configs"
  elif ! have python3; then
    skip python3 "end-to-end (needs python3 for /metrics checks)"
  else
    E2E_DIR=$(mktemp -d /tmp/orderstore-deploy-validate.XXXXXX)
    PIDS=()
    cleanup_e2e() {
      local p
      for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
      for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
      PIDS=()
      rm -rf "$E2E_DIR"
    }
    trap 'cleanup_e2e; rm -f "$K8S_RENDERED"' EXIT
    # Private copies: a concurrent cargo build may replace the originals.
    cp "$ORDERD" "$E2E_DIR/orderd"
    [[ -n $ORDERCTL ]] && cp "$ORDERCTL" "$E2E_DIR/orderctl"
    echo "      orderd: $ORDERD"

    wait_ready() { # wait_ready ADDR... : every /readyz 200 within 90s
      local deadline=$((SECONDS + 90)) a all
      while ((SECONDS < deadline)); do
        all=1
        for a in "$@"; do
          ORDERD_STATUS_ADDR=$a docker/orderstore-healthcheck readyz 2>/dev/null || all=0
        done
        ((all)) && return 0
        sleep 1
      done
      return 1
    }
    ports_free() { # no listener on any given ip:port
      local a
      for a in "$@"; do
        if (exec 3<>"/dev/tcp/${a%:*}/${a##*:}") 2>/dev/null; then echo "$a already in use"; return 1; fi
      done
    }
    stop_all() { # SIGTERM, expect a clean exit
      local p rc=0
      for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
      for p in "${PIDS[@]}"; do wait "$p" || rc=1; done
      PIDS=()
      return $rc
    }

    # --- 1. compose: the real compose/cluster.toml with its addresses moved to loopback.
    C=$E2E_DIR/compose
    mkdir -p "$C"
    sed 's/172\.30\.70\./127.0.70./g' compose/cluster.toml >"$C/cluster.toml"
    mapfile -t C_STATUS < <(grep -oE 'status_addr = "[^"]+"' "$C/cluster.toml" | cut -d'"' -f2)
    mapfile -t C_GRPC < <(grep -oE 'grpc_addr = "[^"]+"' "$C/cluster.toml" | cut -d'"' -f2)
    if ports_free "${C_STATUS[@]}" "${C_GRPC[@]}"; then
      for id in 1 2 3; do
        ORDERD_CONFIG=$C/cluster.toml ORDERD_NODE_ID=$id ORDERD_DATA_DIR=$C/node$id/data \
          ORDERD_LOG_FORMAT=text ORDERD_LOG=warn \
          "$E2E_DIR/orderd" >"$C/node$id.log" 2>&1 &
        PIDS+=($!)
      done
      if wait_ready "${C_STATUS[@]}"; then
        pass "compose cluster.toml (on loopback): 3 orderd nodes start, every /readyz is 200"
        run_quiet "orderstore-healthcheck finds node 2's status_addr from ORDERD_CONFIG/ORDERD_NODE_ID" \
          env ORDERD_CONFIG="$C/cluster.toml" ORDERD_NODE_ID=2 docker/orderstore-healthcheck livez
        if [[ -n $ORDERCTL ]]; then
          eps=$(IFS=,; echo "${C_GRPC[*]}")
          run_quiet "orderctl order place + cluster status against it" sh -c \
            "'$E2E_DIR/orderctl' --endpoints '$eps' --timeout 30 order place --customer validate --item SKU-1:1:100 &&
             '$E2E_DIR/orderctl' --endpoints '$eps' cluster status"
        fi
        # Every metric the dashboard/alerts use appears in a live scrape.
        {
          exec 3<>"/dev/tcp/${C_STATUS[0]%:*}/${C_STATUS[0]##*:}"
          printf 'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
          cat <&3 >"$C/metrics.txt"
          exec 3<&-
        }
        run_quiet "dashboard/alerts metric names appear in a live /metrics scrape" python3 - "$C/metrics.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
live = set()
for base, kind in re.findall(r"^# TYPE (\S+) (\w+)", text, re.M):
    live.add(base)
    live |= {base + "_total"} if kind == "counter" else {base + s for s in ("_bucket", "_sum", "_count")} if kind == "histogram" else {base}
used = set()
for f in ("monitoring/grafana-dashboard.json", "monitoring/alerts.yml"):
    used |= set(re.findall(r"\borderstore_[a-z_]+", open(f).read()))
missing = sorted(used - live)
print("not in /metrics:", missing) if missing else None
sys.exit(1 if missing else 0)
PY
      else
        fail "compose cluster.toml (on loopback): nodes not ready within 90s"
        tail -n 20 "$C"/node*.log | sed 's/^/      /'
      fi
      if stop_all; then pass "compose: orderd nodes exit 0 on SIGTERM"; else fail "compose: an orderd node did not exit 0 on SIGTERM"; fi
    else
      fail "loopback ports for the compose test are busy"
    fi

    # --- 2. Kubernetes: the ConfigMap template rendered by orderstore-k8s-entrypoint for
    # pods orderstore-0..2. Peer "ClusterIPs" are given through STATIC_PEER_IPS because
    # there is no cluster DNS here; each pod's own entry uses POD_IP as in Kubernetes.
    if ((HAVE_PYYAML)); then
      K=$E2E_DIR/k8s
      mkdir -p "$K"
      python3 -c '
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "ConfigMap":
        open(sys.argv[2], "w").write(d["data"]["cluster.toml.tmpl"])' k8s/configmap.yaml "$K/cluster.toml.tmpl"
      K_IPS=(127.0.71.1 127.0.71.2 127.0.71.3)
      K_STATUS=()
      K_GRPC=()
      for ip in "${K_IPS[@]}"; do K_STATUS+=("$ip:7002"); K_GRPC+=("$ip:7001"); done
      if ports_free "${K_STATUS[@]}" "${K_GRPC[@]}"; then
        for i in 0 1 2; do
          POD_NAME=orderstore-$i POD_IP=${K_IPS[$i]} POD_NAMESPACE=orderstore CLUSTER_SIZE=3 \
            STATIC_PEER_IPS="0=${K_IPS[0]} 1=${K_IPS[1]} 2=${K_IPS[2]}" \
            CONFIG_TEMPLATE=$K/cluster.toml.tmpl RENDERED_CONFIG=$K/pod$i/cluster.toml \
            ORDERD_DATA_DIR=$K/pod$i/data ORDERD_BIN=$E2E_DIR/orderd ORDERD_LOG=warn \
            docker/orderstore-k8s-entrypoint >"$K/pod$i.log" 2>&1 &
          PIDS+=($!)
        done
        if wait_ready "${K_STATUS[@]}"; then
          pass "k8s template rendered by orderstore-k8s-entrypoint: 3 nodes start, every /readyz is 200"
          run_quiet "pod ordinal N became --node-id N+1" \
            grep -q 'pod orderstore-2 -> node id 3' "$K/pod2.log"
        else
          fail "k8s template (on loopback): nodes not ready within 90s"
          tail -n 20 "$K"/pod*.log | sed 's/^/      /'
        fi
        if stop_all; then pass "k8s: orderd nodes exit 0 on SIGTERM"; else fail "k8s: an orderd node did not exit 0 on SIGTERM"; fi
      else
        fail "loopback ports for the k8s test are busy"
      fi
      run_quiet "entrypoint refuses an ordinal outside the static membership" sh -c \
        "! POD_NAME=orderstore-3 POD_IP=127.0.71.4 CLUSTER_SIZE=3 CONFIG_TEMPLATE='$K/cluster.toml.tmpl' \
           RENDERED_CONFIG='$K/x.toml' ORDERD_BIN=/bin/false docker/orderstore-k8s-entrypoint 2>/dev/null"
    fi
    cleanup_e2e
  fi
fi

echo
echo "== summary"
if ((${#MISSING[@]})); then
  printf 'missing tools (checks skipped): %s\n' "$(printf '%s\n' "${MISSING[@]}" | sort -u | paste -sd, -)"
fi
if ((${#FAILED[@]})); then
  printf '%d check(s) FAILED\n' "${#FAILED[@]}"
  exit 1
fi
if ((STRICT && ${#MISSING[@]})); then
  echo "--strict: tools were missing"
  exit 1
fi
echo "all checks that ran passed"
