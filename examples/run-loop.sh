#!/usr/bin/env bash
# The whole routing loop, offline: register → eval cases → measurement → recommendation →
# approve → resolve, against a real LiteLLM proxy with priced fake upstreams.
#
#   bash examples/run-loop.sh            # uses `oc` and `litellm` from PATH
#   OC=.venv/bin/oc LITELLM=.venv/bin/litellm bash examples/run-loop.sh
#
# The proxy comes from `pip install 'litellm[proxy]'` (see the README). Everything the script
# creates — database (OC_DB), config file (OC_CONFIG), proxy log — lives in a temporary directory
# that is removed at the end, so it never touches your own `oc` database or contexts.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
OC="${OC:-oc}"
LITELLM="${LITELLM:-litellm}"
for tool in "$OC" "$LITELLM"; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "error: $tool not found — install with: pip install -e . 'litellm[proxy]' (into the venv of the README)," \
         "or point OC= and LITELLM= at the executables" >&2
    exit 2
  }
done
PORT="${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
work="$(mktemp -d)"
export OC_DB="$work/oc.db" OC_CONFIG="$work/config.toml" CI=1
proxy_pid=""
cleanup() { [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

echo "== starting the LiteLLM proxy on 127.0.0.1:$PORT"
LITELLM_LOCAL_MODEL_COST_MAP=True "$LITELLM" --config "$here/litellm-config.yaml" \
  --host 127.0.0.1 --port "$PORT" >"$work/proxy.log" 2>&1 &
proxy_pid=$!
for _ in $(seq 1 120); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/health/liveliness', timeout=1)" \
    2>/dev/null && break
  kill -0 "$proxy_pid" 2>/dev/null || { cat "$work/proxy.log"; exit 1; }
  sleep 0.5
done
export LITELLM_ENDPOINT="http://127.0.0.1:$PORT" LITELLM_MASTER_KEY="sk-example-master-key" ROUTING_JUDGE_MODEL="judge-model"

echo "== register models"
cred=$("$OC" credential add --provider openai --secret-ref openai-prod -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
"$OC" model add --name strong-model --upstream openai/gpt-4o --credential "$cred" -o json >/dev/null
"$OC" model add --name cheap-model --upstream mistral/mistral-small -o json >/dev/null
"$OC" model add --name judge-model --upstream anthropic/claude-3-5-sonnet -o json >/dev/null
"$OC" cluster-tenant create acme -o json >/dev/null
"$OC" cluster-tenant grant acme --model strong-model --model cheap-model -o json >/dev/null
"$OC" skill-posture set team/acme/summarise --pinned-model strong-model -o json >/dev/null

echo "== eval cases"
# 120 cases: a proposal needs evidence. At the default non-inferiority margin of 0.05, even
# identical verdicts on every case show the candidate is not worse only from 73 cases on
# (docs/statistics.md §8); a smaller set would end "inconclusive" and say how many cases it needs.
"$OC" routing eval-case import "$here/summarise-cases.jsonl"

echo "== measurement"
"$OC" routing measurement run --skill team/acme/summarise --candidate-model cheap-model --seed 7 --concurrency 16
proposal=$("$OC" routing proposal list --status pending -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')

echo "== recommendation"
"$OC" routing recommendation list

echo "== approve"
"$OC" routing proposal approve "$proposal"

echo "== resolve"
"$OC" resolve team/acme/summarise --explain
model=$("$OC" resolve team/acme/summarise -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["model"])')
[ "$model" = "cheap-model" ] || { echo "expected cheap-model, got $model"; exit 1; }
"$OC" audit verify
echo "== done: team/acme/summarise now runs on $model"
