#!/usr/bin/env bash
# Decisions reach the gateway, offline: register → export → a real LiteLLM proxy answers
# `skill:` requests with the model `oc resolve` names → re-pin → diff → re-export → restart.
# The upstreams are examples/named-upstream.py: each answers with its own name.
#
#   bash examples/gateway.sh            # uses `oc` and `litellm` from PATH
#   OC=.venv/bin/oc LITELLM=.venv/bin/litellm bash examples/gateway.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
OC="${OC:-oc}"
LITELLM="${LITELLM:-litellm}"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work="$(mktemp -d)"
export OC_DB="$work/oc.db" OC_CONFIG="$work/config.toml" CI=1
export LITELLM_MASTER_KEY="sk-example-master-key" EXAMPLE_UPSTREAM_KEY="example-upstream-value"
pids=()
proxy_pid=""
cleanup() {
  for pid in "${pids[@]}" $proxy_pid; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_for() {  # wait_for URL PID
  for _ in $(seq 1 180); do
    python3 -c "import urllib.request; urllib.request.urlopen('$1', timeout=1)" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { cat "$work/proxy.log" 2>/dev/null; return 1; }
    sleep 0.5
  done
  return 1
}

echo "== two upstreams on loopback, each answering with its name"
strong_port=$(free_port); cheap_port=$(free_port)
python3 "$here/named-upstream.py" strong "$strong_port" & pids+=($!)
python3 "$here/named-upstream.py" cheap "$cheap_port" & pids+=($!)

echo "== register models, a ClusterTenant and a skill"
cred=$("$OC" credential add --provider openai --secret-ref example-upstream-key -o json \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
"$OC" model add --name strong-model --upstream openai/strong --api-base "http://127.0.0.1:$strong_port/v1" \
  --credential "$cred" --input-cost-per-mtok 10 --output-cost-per-mtok 30 -o json >/dev/null
"$OC" model add --name cheap-model --upstream openai/cheap --api-base "http://127.0.0.1:$cheap_port/v1" \
  --credential "$cred" --input-cost-per-mtok 1 --output-cost-per-mtok 3 -o json >/dev/null
"$OC" cluster-tenant create acme -o json >/dev/null
"$OC" cluster-tenant grant acme --model strong-model --model cheap-model -o json >/dev/null
"$OC" skill-posture set team/acme/summarise --pinned-model strong-model -o json >/dev/null
"$OC" resolve team/acme/summarise

echo "== export acme's gateway config into a base that holds the master key"
cat >"$work/proxy.yaml" <<'YAML'
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
router_settings:
  num_retries: 0
YAML
"$OC" gateway export --cluster-tenant acme --base "$work/proxy.yaml" --write "$work/proxy.yaml"
cat "$work/proxy.yaml"

start_proxy() {
  port=$(free_port)
  LITELLM_LOCAL_MODEL_COST_MAP=True "$LITELLM" --config "$work/proxy.yaml" --host 127.0.0.1 --port "$port" \
    >"$work/proxy.log" 2>&1 &
  proxy_pid=$!
  wait_for "http://127.0.0.1:$port/health/liveliness" "$proxy_pid"
}
stop_proxy() { kill "$proxy_pid"; wait "$proxy_pid" 2>/dev/null || true; proxy_pid=""; }
ask() {  # ask MODEL → the upstream's name
  python3 - "$port" "$1" <<'PY'
import json, os, sys, urllib.request
port, model = sys.argv[1], sys.argv[2]
req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", method="POST",
    data=json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}).encode(),
    headers={"authorization": "Bearer " + os.environ["LITELLM_MASTER_KEY"], "content-type": "application/json"})
print(json.load(urllib.request.urlopen(req, timeout=60))["choices"][0]["message"]["content"])
PY
}

echo "== start the proxy from the exported file"
start_proxy
answer=$(ask skill:team/acme/summarise)
echo "skill:team/acme/summarise was served by: $answer"
[ "$answer" = "strong" ] || { echo "expected strong, got $answer"; exit 1; }

echo "== switch the skill (or: oc routing proposal approve <id>) and preview the change"
"$OC" skill-posture set team/acme/summarise --pinned-model cheap-model -o json >/dev/null
set +e
"$OC" gateway diff "$work/proxy.yaml" --cluster-tenant acme
code=$?
set -e
[ "$code" = 1 ] || { echo "expected gateway diff to exit 1, got $code"; exit 1; }

echo "== re-export and restart the proxy"
"$OC" gateway export --cluster-tenant acme --base "$work/proxy.yaml" --write "$work/proxy.yaml"
stop_proxy
start_proxy
answer=$(ask skill:team/acme/summarise)
echo "skill:team/acme/summarise was served by: $answer"
[ "$answer" = "cheap" ] || { echo "expected cheap, got $answer"; exit 1; }
echo "== done: the gateway serves what oc resolves"
