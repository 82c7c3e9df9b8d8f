#!/usr/bin/env bash
# e2e suite `faults`: Sesame under a steady login + check load (bounded:
# a few workers, seconds, loopback) while its store fails, when it is itself
# killed, when it is asked to stop, and while upstreams hang.
#
# - Redis (appendfsync always) killed with SIGKILL and restarted: 503 while
#   it is away (never 401, never a hang past the timeout), logins again
#   within seconds of its return, every token answered 200 still valid.
# - Sesame on the embedded store killed with SIGKILL and restarted: the
#   store opens and every token answered 200 before the kill is valid.
# - SIGTERM: the request in flight gets its answer, then Sesame exits 0.
# - LDAP, CAS and OpenID peers that accept connections and never answer:
#   503 within the configured timeouts, local logins served meanwhile.
#   (Upstreams that come back are checked by the ldap, cas, oidc and
#   kerberos suites.)
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
e2e_setup faults
W="$E2E_WORK"
PY=python3
report() { "$PY" "$E2E_ROOT/e2e/faults/report.py" "$@"; }
load() { # load BASE DURATION OUT: in the background, PID in LOAD_PID
    "$PY" "$E2E_ROOT/e2e/faults/load.py" "$1" "$2" "$3" 4 &
    LOAD_PID=$!
    E2E_PIDS+=("$LOAD_PID")
}
since() { "$PY" -c "import sys, time; print(round(time.time() - float(sys.argv[1]), 2))" "$1"; }
now() { date +%s.%N; }
LATER=9999999999
plus() { "$PY" -c "import sys; print(float(sys.argv[1]) + float(sys.argv[2]))" "$1" "$2"; }
# Requests sent within half a second of a kill or a restart may be answered
# either way (the kill lands while they are served; a reconnection waiting
# for Redis succeeds): the windows below leave that half second out.
below() { "$PY" -c "import sys; print('yes' if sys.argv[1] != 'never' and float(sys.argv[1]) < float(sys.argv[2]) else 'no')" "$1" "$2"; }

HOLE_PORT=$(free_port)
"$PY" "$E2E_ROOT/e2e/faults/blackhole.py" "$HOLE_PORT" &
E2E_PIDS+=("$!")
wait_port "$HOLE_PORT" || { fail "the black-hole peer starts"; finish; exit; }
HOLE="http://127.0.0.1:$HOLE_PORT"

# sesame_config DIR PORT STORE_YAML: a config with the local users and
# upstreams that all point at the black hole (1 s timeouts).
sesame_config() {
    mkdir -p "$1"
    cp "$E2E_ROOT/examples/demo-users.yml" "$1/users.yml"
    cat >"$1/config.yml" <<YAML
listen: {address: 127.0.0.1, port: $2, tls: {enabled: false}}
data_dir: data
users_file: users.yml
enabled_backend_plugins: {xivo_user: true, ldap_user: true}
uc_api: {login_backends: [ldap_user]}
$3
ldap:
  uri: ldap://127.0.0.1:$HOLE_PORT
  user_base_dn: ou=people,dc=test,dc=local
  user_login_attribute: uid
  bind_anonymous: true
  connect_timeout_ms: 1000
  operation_timeout_ms: 1000
cas:
  server_url: $HOLE/cas
  allowed_services: [http://app.test/]
  timeout_ms: 1000
oidc:
  providers:
    hole:
      issuer: $HOLE
      client_id: sesame
      audiences: [sesame]
      timeout_ms: 1000
YAML
}

# --- 1. Redis killed during the load, then restarted.
start_redis REDIS_PORT || { fail "redis-server starts"; finish; exit; }
REDIS_DIR="$W/redis-REDIS_PORT"
R_PORT=$(free_port)
sesame_config "$W/r" "$R_PORT" "store: {type: redis, redis: {url: redis://127.0.0.1:$REDIS_PORT/0, timeout_ms: 500}}"
start_sesame R "$W/r/config.yml" "$R_PORT" || { fail "Sesame (Redis store) starts"; finish; exit; }
R="http://127.0.0.1:$R_PORT"
load "$R" 12 "$W/redis-load.jsonl"
sleep 3
KILLED=$(now)
kill -KILL "$REDIS_PORT_PID"; wait "$REDIS_PORT_PID" 2>/dev/null
sleep 4
RESTARTED=$(now)
start_redis REDIS2_PORT "$REDIS_PORT" "$REDIS_DIR" || fail "redis-server restarts"
wait "$LOAD_PID"
L="$W/redis-load.jsonl"
BEFORE=$(plus "$KILLED" -0.5); DOWN_FROM=$(plus "$KILLED" 0.5); DOWN_TO=$(plus "$RESTARTED" -0.5)
expect "before the kill: logins and checks succeed" "200 204" \
    "$(report "$L" statuses create 0 "$BEFORE") $(report "$L" statuses check 0 "$BEFORE")"
# Answered while Redis was down (a request sent just before it returned may
# be answered, 200, once it has).
expect "Redis down: logins are 503, never 401 or 500" "503" \
    "$(report "$L" answered create "$DOWN_FROM" "$DOWN_TO")"
expect "Redis down: checks are 503, never 401/404" "503" \
    "$(report "$L" answered check "$DOWN_FROM" "$DOWN_TO")"
expect "over the whole run, only 200/503 and 204/503 (no 401, 404, 500, no dropped connection)" "200 503 | 204 503" \
    "$(report "$L" statuses create 0 $LATER) | $(report "$L" statuses check 0 $LATER)"
slowest=$(report "$L" max-elapsed)
expect "no answer took longer than the 500 ms store timeout allows (slowest ${slowest} s, bound 3 s)" yes \
    "$(below "$slowest" 3)"
back=$(report "$L" first-ok-after "$RESTARTED")
expect "logins succeed again within 5 s of Redis's return, Sesame not restarted (${back} s)" yes \
    "$(below "$back" 5)"
read -r valid invalid statuses <<<"$(report "$L" verify "$R")"
expect "every token answered 200 before, during and after the outage is valid ($valid tokens)" "0" "$invalid${statuses:+ ($statuses)}"
[ "$valid" -gt 100 ] && pass "the load created a meaningful number of tokens ($valid)" || fail "the load created too few tokens ($valid)"

# --- 2. Upstreams that never answer (on an embedded-store instance).
E_PORT=$(free_port)
sesame_config "$W/e" "$E_PORT" ""
start_sesame E "$W/e/config.yml" "$E_PORT" SESAME_AUDIT_LOG="$W/e/audit.jsonl" \
    || { fail "Sesame (embedded store) starts"; finish; exit; }
E="http://127.0.0.1:$E_PORT"

# --- Audit events, in their own file (JSON lines).
token_login "$E" xivo_user alice s3cre7 >/dev/null
AT=$(token_of)
E2E_OUT=/dev/null token_login "$E" xivo_user alice wrong >/dev/null
curl -s -o /dev/null -X DELETE "$E/0.1/token/$AT"
A="$W/e/audit.jsonl"
audit() { jq -c "select(.fields.event == \"$1\") | .fields | $2" "$A" 2>/dev/null | head -1; }
expect "audit: the accepted login, with method, login and client address" '["xivo_user","alice","127.0.0.1"]' \
    "$(audit authentication 'select(.outcome == "accepted") | [.method, .login, .client_addr]')"
expect "audit: the refused login, with its reason" '["alice","invalid credentials"]' \
    "$(audit authentication 'select(.outcome == "refused") | [.login, .reason]')"
TID=$(audit token_issued '.token_id' | tr -d '"')
expect "audit: the token issued and its revocation carry the same token id" "16 $TID" \
    "${#TID} $(audit token_revoked '.token_id' | tr -d '"')"
expect "audit: neither the token nor the password is in the file" 0 "$(grep -c -e "$AT" -e s3cre7 -e wrong "$A")"
expect "audit: the events are not in the main log" 0 "$(grep -c 'sesame::audit' "$W/e/sesame-E.log")"
JWT="$(printf '{"alg":"RS256","kid":"k1"}' | base64 -w0 | tr '+/' '-_' | tr -d '=').$(printf '{"iss":"%s","aud":"sesame","sub":"alice","exp":4102444800}' "$HOLE" | base64 -w0 | tr '+/' '-_' | tr -d '=').c2ln"
hang_check() { # hang_check NAME EXPECTED_CODE CURL_ARGS...: 503 while local logins are served
    local name="$1" want="$2"
    shift 2
    local began
    began=$(now)
    curl -s -o "$W/hang.json" -w '%{http_code}' --max-time 20 "$@" >"$W/hang.code" &
    local pid=$!
    sleep 0.2
    local local_ok=0
    for _ in 1 2 3; do
        [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -u alice:s3cre7 -H 'Content-Type: application/json' \
            -d '{"backend": "xivo_user"}' "$E/0.1/token")" = 200 ] && local_ok=$((local_ok + 1))
    done
    local still_pending=no
    kill -0 "$pid" 2>/dev/null && still_pending=yes
    wait "$pid"
    local took
    took=$(since "$began")
    expect "$name hangs: local logins are served meanwhile" "3 yes" "$local_ok $still_pending"
    expect "$name hangs: 503 $want within its timeout (${took} s, bound 5 s)" "503 $want yes" \
        "$(cat "$W/hang.code") $(jq -r .error "$W/hang.json" 2>/dev/null) $(below "$took" 5)"
}
hang_check "LDAP" BackendUnavailable -X POST -H 'Content-Type: application/json' \
    -d '{"login": "bob", "password": "x"}' "$E/xuc/api/2.0/auth/login" # the UC login asks LDAP
hang_check "CAS" CasServerUnavailable -G "$E/xuc/api/2.0/auth/cas" \
    --data-urlencode service=http://app.test/ --data-urlencode ticket=ST-1-abc
hang_check "the OpenID provider" OidcProviderUnavailable -X POST -H "Authorization: Bearer $JWT" "$E/xuc/api/2.0/auth/oidc"
expect "/healthz answers while upstreams hang" 200 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$E/healthz")"

# --- 3. Sesame (embedded store) killed with SIGKILL during the load.
load "$E" 8 "$W/kill-load.jsonl"
sleep 3
kill -KILL "$E_PID"; wait "$E_PID" 2>/dev/null
sleep 1
RESTARTED=$(now)
start_sesame E2 "$W/e/config.yml" "$E_PORT" || fail "Sesame restarts after SIGKILL (the store opens)"
wait "$LOAD_PID"
L="$W/kill-load.jsonl"
expect "logins are answered 200, or not at all while Sesame is dead" "0 200" "$(report "$L" statuses create 0 $LATER)"
back=$(report "$L" first-ok-after "$RESTARTED")
expect "logins succeed after the restart" yes "$([ "$back" != never ] && echo yes)"
read -r valid invalid statuses <<<"$(report "$L" verify "$E")"
expect "every token answered 200 before the SIGKILL (and after) is valid ($valid tokens)" "0" "$invalid${statuses:+ ($statuses)}"
[ "$valid" -gt 50 ] && pass "the load created a meaningful number of tokens ($valid)" || fail "the load created too few tokens ($valid)"

# --- 4. SIGTERM: the request in flight (a CAS check hanging 1 s) gets its
# answer, new connections are refused, Sesame exits 0.
curl -s -o "$W/term.json" -w '%{http_code}' --max-time 20 -G "$E/xuc/api/2.0/auth/cas" \
    --data-urlencode service=http://app.test/ --data-urlencode ticket=ST-2-abc >"$W/term.code" &
INFLIGHT=$!
sleep 0.3
kill -TERM "$E2_PID"
sleep 0.2
after=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$E/healthz")
wait "$INFLIGHT"
wait "$E2_PID"
code=$?
expect "SIGTERM: the in-flight request is answered (503 from the hanging CAS), not cut" 503 "$(cat "$W/term.code")"
expect "SIGTERM: new connections are no longer accepted" 000 "$after"
expect "SIGTERM: Sesame exits 0" 0 "$code"

finish
