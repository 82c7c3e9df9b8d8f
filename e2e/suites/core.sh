#!/usr/bin/env bash
# e2e suite `core`: the shipped demo configuration over HTTPS, driven by curl
# with the commands of the xivo-auth documentation (seed 003); then two Sesame
# instances sharing a real redis-server, through a Redis outage.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
e2e_setup core
W="$E2E_WORK"

# --- The demo configuration, as shipped; a conf.d overlay moves the port.
cp "$E2E_ROOT/examples/demo.yml" "$E2E_ROOT/examples/demo-users.yml" "$W/"
mkdir -p "$W/conf.d"
PORT=$(free_port)
printf 'listen:\n  port: %s\n' "$PORT" >"$W/conf.d/50-port.yml"
start_sesame DEMO "$W/demo.yml" "$PORT" SESAME_DATA_DIR="$W/data" || { fail "the demo starts"; finish; exit; }
pass "the demo configuration starts (HTTPS, generated certificate)"
BASE="https://localhost:$PORT"

# Seed 003, verbatim but for the port.
OUT=$(curl -k -s -X POST -H 'Content-Type: application/json' -u 'alice:s3cre7' "$BASE/0.1/token" -d '{"backend": "xivo_user", "expiration": 600}')
TOKEN=$(jq -r '.data.token // empty' <<<"$OUT")
expect "POST /0.1/token gives a 36-character token" 36 "${#TOKEN}"
ISSUED=$(jq -r '.data.utc_issued_at' <<<"$OUT"); EXPIRES=$(jq -r '.data.utc_expires_at' <<<"$OUT")
expect "expires_at - issued_at = expiration" 600 "$(( $(date -ud "$EXPIRES" +%s) - $(date -ud "$ISSUED" +%s) ))"
expect "the token carries alice's UUID" "63f3dc3c-865d-419e-bec2-e18c4b118224" "$(jq -r .data.xivo_user_uuid <<<"$OUT")"

STATUS=$(curl -k -s -o /dev/null -w '%{http_code}' -I -H 'Content-Type: application/json' "$BASE/0.1/token/$TOKEN")
expect "HEAD /0.1/token/{token} answers 204" 204 "$STATUS"
OUT=$(curl -k -s -X GET -H 'Content-Type: application/json' "$BASE/0.1/token/$TOKEN")
expect "GET /0.1/token/{token} gives the same token" "$TOKEN" "$(jq -r .data.token <<<"$OUT")"
STATUS=$(curl -k -s -o /dev/null -w '%{http_code}' -I "$BASE/0.1/token/$TOKEN?scope=confd.users.me.read")
expect "a granted scope answers 204" 204 "$STATUS"
STATUS=$(curl -k -s -o /dev/null -w '%{http_code}' -I "$BASE/0.1/token/$TOKEN?scope=confd.users.delete")
expect "a scope not granted answers 403" 403 "$STATUS"
OUT=$(curl -k -s -X DELETE -H 'Content-Type: application/json' "$BASE/0.1/token/$TOKEN")
expect "DELETE /0.1/token/{token} succeeds" success "$(jq -r .data.message <<<"$OUT")"
STATUS=$(curl -k -s -o /dev/null -w '%{http_code}' -I "$BASE/0.1/token/$TOKEN")
expect "a revoked token answers 404" 404 "$STATUS"
STATUS=$(curl -k -s -o /dev/null -w '%{http_code}' -X POST -u 'alice:wrong' "$BASE/0.1/token" -d '{"backend": "xivo_user"}')
expect "a wrong password answers 401" 401 "$STATUS"

# The UC login, and the token on the query string.
OUT=$(curl -k -s -X POST "$BASE/xuc/api/2.0/auth/login" -H 'Content-Type: application/json' -d '{"login": "alice", "password": "s3cre7"}')
UC=$(jq -r '.token // empty' <<<"$OUT")
expect "the UC login answers login, token and TTL" "alice 7200" "$(jq -r '"\(.login) \(.TTL)"' <<<"$OUT")"
STATUS=$(curl -k -s -o /dev/null -w '%{http_code}' "$BASE/xuc/api/2.0/auth/check?token=$UC")
expect "the UC check accepts ?token=" 200 "$STATUS"

# The client examples of docs/clients.md, trusting the generated certificate.
EXAMPLE_RS="$(dirname "$SESAME_BIN")/examples/validate_token"
for client in python rust; do
    run() {
        if [ "$client" = python ]; then
            SESAME_CA="$W/data/tls/self-signed.crt" python3 "$E2E_ROOT/docs/examples/validate_token.py" "$@"
        else
            SESAME_CA="$W/data/tls/self-signed.crt" "$EXAMPLE_RS" "$@"
        fi 2>/dev/null
    }
    verdict() { local out; out=$(run "$@"); echo "$out $?"; }
    expect "the $client example: a valid token, an ACL it grants, one it lacks, a revoked token, Sesame away" \
        "valid 0, valid 0, invalid 1, invalid 1, unavailable 2" \
        "$(verdict "$BASE" "$UC"), $(verdict "$BASE" "$UC" confd.users.me.read), $(verdict "$BASE" "$UC" confd.users.delete), $(verdict "$BASE" "$TOKEN"), $(verdict "https://localhost:1" "$UC")"
done

if grep -q -e "$UC" -e "$TOKEN" -e s3cre7 "$W"/sesame-DEMO.log; then
    fail "the log holds a token or a password"
else
    pass "the log holds no token and no password"
fi
# The API description: served at both paths, and a valid OpenAPI document
# by an independent validator.
curl -k -s "$BASE/0.1/api/api.yml" -o "$W/api.yml"
curl -k -s "$BASE/api/openapi.json" -o "$W/openapi.json"
expect "/0.1/api/api.yml and /api/openapi.json describe the same routes" \
    "$(jq -c '.paths | keys' "$W/openapi.json")" \
    "$(python3 -c 'import json,sys,re; print(json.dumps(sorted(re.findall(r"^  (/[^:]*):$", open(sys.argv[1]).read(), re.M)), separators=(",",":")))' "$W/api.yml")"
if ensure_venv; then
    OUT=$("$VENV/bin/openapi-spec-validator" "$W/api.yml" 2>&1)
    expect "openapi-spec-validator accepts the served document" "$W/api.yml: OK" "$OUT"
else
    fail "the Python clients install (openapi-spec-validator)"
fi
stop_pid "$DEMO_PID"; expect "SIGTERM: Sesame exits 0" 0 "$?"

# The shipped systemd unit is valid (with this binary in ExecStart).
sed "s|/usr/local/bin/sesame|$SESAME_BIN|" "$E2E_ROOT/deploy/sesame.service" >"$W/sesame.service"
expect "deploy/sesame.service passes systemd-analyze verify" "" "$(systemd-analyze verify "$W/sesame.service" 2>&1)"

# --- Two instances on one Redis, and a Redis outage.
start_redis REDIS
PA=$(free_port); PB=$(free_port)
for name in A B; do
    port=$([ "$name" = A ] && echo "$PA" || echo "$PB")
    mkdir -p "$W/$name"
    cp "$E2E_ROOT/examples/demo-users.yml" "$W/$name/users.yml"
    cat >"$W/$name/config.yml" <<YAML
listen: {address: 127.0.0.1, port: $port, tls: {enabled: false}}
data_dir: data
users_file: users.yml
enabled_backend_plugins: {xivo_user: true}
store:
  type: redis
  redis: {url: "redis://127.0.0.1:$REDIS/0", timeout_ms: 1000}
YAML
done
start_sesame A "$W/A/config.yml" "$PA" && start_sesame B "$W/B/config.yml" "$PB" || { fail "two instances start"; finish; exit; }
login() { E2E_OUT="$W/login.json" uc_login "$1" alice s3cre7; }
check() { E2E_OUT=/dev/null uc_check "$1" "$2"; }

expect "login on instance A" 200 "$(login "$PA")"
T=$(jq -r .token "$W/login.json")
expect "A's token is valid on B" 200 "$(check "$PB" "$T")"

kill -KILL "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null
START=$(date +%s)
expect "login while Redis is down answers 503" 503 "$(login "$PA")"
expect "... with the error BackendUnavailable" BackendUnavailable "$(jq -r .error "$W/login.json")"
expect "a check while Redis is down answers 503, not 401" 503 "$(check "$PB" "$T")"
expect "/readyz says not ready while Redis is down" 503 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PA/readyz")"
expect "/healthz still says the process is up" 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PA/healthz")"
ELAPSED=$(( $(date +%s) - START ))
[ "$ELAPSED" -le 5 ] && pass "answers while Redis is down come within the timeout (${ELAPSED}s)" || fail "answers took ${ELAPSED}s"

start_redis REDIS "$REDIS" "$W/redis-REDIS"
for _ in $(seq 1 100); do [ "$(check "$PB" "$T")" = 200 ] && break; sleep 0.1; done
expect "after Redis returns, the token issued before the outage is valid again" 200 "$(check "$PB" "$T")"
expect "and logins work again without a restart" 200 "$(login "$PA")"
expect "/readyz is ready again" ready "$(curl -s "http://127.0.0.1:$PA/readyz" | jq -r .status)"
curl -s -o /dev/null -X DELETE "http://127.0.0.1:$PB/0.1/token/$T"
expect "revoked on B, gone on A" 404 "$(curl -s -o /dev/null -w '%{http_code}' -I "http://127.0.0.1:$PA/0.1/token/$T")"

finish
