#!/usr/bin/env bash
# e2e suite `cas`: a real CAS server (django-cas-server, CAS 3.0) in a
# throwaway Django site on loopback. Headless Chromium logs in on its login
# page through Sesame's browser flow; tickets from a scripted login trade for
# Sesame tokens; replayed, misdirected and unknown tickets, services not
# allowed, users without a local account, and the CAS server going away.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
e2e_setup cas
W="$E2E_WORK"
CHROMIUM=$(command -v chromium || true)
[ -n "$CHROMIUM" ] || { fail "chromium is installed"; finish; exit; }
ensure_venv || { fail "the Python packages install (django-cas-server)"; finish; exit; }
ensure_node || { fail "the Node packages install (playwright-core)"; finish; exit; }

CAS_PORT=$(free_port); SESAME_PORT=$(free_port); APP_PORT=$(free_port)
CAS="http://127.0.0.1:$CAS_PORT/cas"
S="http://127.0.0.1:$SESAME_PORT"
APP="http://127.0.0.1:$APP_PORT/app/"
OTHER="http://127.0.0.1:$APP_PORT/other/"
NOT_ALLOWED="http://127.0.0.1:$APP_PORT/not-allowed/"

# --- The CAS server: its site, database, users (alice, carol) and services.
export CAS_E2E_DIR="$W/cas" PYTHONPATH="$E2E_ROOT/e2e/cas" DJANGO_SETTINGS_MODULE=cas_site
mkdir -p "$CAS_E2E_DIR"
"$VENV/bin/python" -m django migrate --noinput >"$W/cas-migrate.log" 2>&1 \
    && "$VENV/bin/python" "$E2E_ROOT/e2e/cas/cas_site.py" setup >>"$W/cas-migrate.log" 2>&1 \
    || { cat "$W/cas-migrate.log"; fail "the CAS site is set up"; finish; exit; }
CAS_PID=""
start_cas() {
    "$VENV/bin/python" -m django runserver "127.0.0.1:$CAS_PORT" --noreload >>"$W/cas.log" 2>&1 &
    CAS_PID=$!
    E2E_PIDS+=("$CAS_PID")
    wait_port "$CAS_PORT"
}
start_cas || { cat "$W/cas.log"; fail "the CAS server starts"; finish; exit; }
pass "django-cas-server starts on loopback"
ticket() { "$VENV/bin/python" "$E2E_ROOT/e2e/clients/cas_tool.py" "$CAS" "$1" "${2:-alice}" "${3:-alice-cas-pw}"; }

# --- Sesame.
mkdir -p "$W/s"
cp "$E2E_ROOT/examples/demo-users.yml" "$W/s/users.yml"
cat >"$W/s/config.yml" <<YAML
listen: {address: 127.0.0.1, port: $SESAME_PORT, tls: {enabled: false}}
data_dir: data
users_file: users.yml
enabled_backend_plugins: {xivo_user: true}
cas:
  server_url: $CAS
  protocol: "3.0"
  allowed_services: ["$APP", "$OTHER"]
  callback_url: $S/xuc/api/2.0/auth/cas/callback
  allowed_redirects: ["$APP"]
  timeout_ms: 2000
YAML
start_sesame S "$W/s/config.yml" "$SESAME_PORT" || { fail "Sesame starts"; finish; exit; }
exchange() { # exchange SERVICE TICKET: GET /xuc/api/2.0/auth/cas
    curl -s -o "$W/out.json" -w '%{http_code}' -G "$S/xuc/api/2.0/auth/cas" \
        --data-urlencode "service=$1" --data-urlencode "ticket=$2"
}

# --- 1. The browser flow in headless Chromium.
start_app "$APP_PORT"
BT=$(browser_token "$S/xuc/api/2.0/auth/cas/login?redirect=$(jq -rn --arg u "$APP" '$u|@uri')" "$APP" alice alice-cas-pw)
expect "Chromium logs in on the CAS page and ends with a Sesame token" 36 "${#BT}"
expect "that token validates on /0.1/token/{t}" 204 "$(curl -s -o /dev/null -w '%{http_code}' -I "$S/0.1/token/$BT")"
expect "it is alice's" "63f3dc3c-865d-419e-bec2-e18c4b118224" "$(curl -s "$S/0.1/token/$BT" | jq -r .data.xivo_user_uuid)"

# --- Single logout: logging out of CAS revokes the token of the browser login.
SLO_T=$(AFTER_URL="$CAS/logout" browser_token "$S/xuc/api/2.0/auth/cas/login?redirect=$(jq -rn --arg u "$APP" '$u|@uri')" "$APP" alice alice-cas-pw)
for _ in $(seq 30); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -I "$S/0.1/token/$SLO_T")" = 404 ] && break
    sleep 0.2
done
expect "CAS single logout revokes the token (${#SLO_T}-character token)" "36 404" \
    "${#SLO_T} $(curl -s -o /dev/null -w '%{http_code}' -I "$S/0.1/token/$SLO_T")"
expect "the first browser login's token is untouched" 204 "$(curl -s -o /dev/null -w '%{http_code}' -I "$S/0.1/token/$BT")"
expect "a forged logout request is answered 200 and revokes nothing" "200 204" \
    "$(curl -s -o /dev/null -w '%{http_code}' "$S/xuc/api/2.0/auth/cas/callback" --data-urlencode 'logoutRequest=<x/>') $(curl -s -o /dev/null -w '%{http_code}' -I "$S/0.1/token/$BT")"

# --- 2. A ticket from a scripted login.
T1=$(ticket "$APP") || fail "a scripted CAS login gives a ticket"
expect "a service ticket trades for a Sesame token" 200 "$(exchange "$APP" "$T1")"
expect "the answer has login, token and TTL" "alice 36 true" "$(jq -r '"\(.login) \(.token | length) \(.TTL > 0)"' "$W/out.json")"

# --- 3. What must fail.
expect "the same ticket again: 401" "401 CasServerInvalidTicket" "$(exchange "$APP" "$T1") $(jq -r .error "$W/out.json")"
T2=$(ticket "$OTHER")
expect "a ticket for another service: 401 (CAS says INVALID_SERVICE)" "401 CasServerInvalidTicket" "$(exchange "$APP" "$T2") $(jq -r .error "$W/out.json")"
T3=$(ticket "$NOT_ALLOWED")
expect "a service not in the allow-list: 400" "400 CasServiceNotAllowed" "$(exchange "$NOT_ALLOWED" "$T3") $(jq -r .error "$W/out.json")"
T4=$(ticket "$APP")
expect "a ticket Sesame refused for its service was never sent to CAS (it still works)" 200 "$(exchange "$APP" "$T4")"
expect "a CAS user without a local account: 404" "404 UserNotFound" "$(exchange "$APP" "$(ticket "$APP" carol carol-cas-pw)") $(jq -r .error "$W/out.json")"
expect "a made-up ticket: 401" 401 "$(exchange "$APP" ST-1-madeup)"
expect "not a ticket at all: 401" 401 "$(exchange "$APP" 'TGT-<script>')"
expect "a browser login to a redirect not allowed: 400" 400 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$S/xuc/api/2.0/auth/cas/login?redirect=http://evil.example/")"
expect "a callback without the browser's state cookie: 401" 401 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$S/xuc/api/2.0/auth/cas/callback?ticket=ST-1-x")"

# --- Login CSRF: Mallory starts a login of her own, gets a ticket for the
# service URL CAS was sent (it names her login's state), and delivers the
# callback into the victim's browser, which has a login of its own.
start_login() { # start_login NAME: writes NAME.service (the service URL Sesame sent CAS to) and NAME.cookie
    curl -s -o /dev/null -D "$W/$1.head" "$S/xuc/api/2.0/auth/cas/login?redirect=$(jq -rn --arg u "$APP" '$u|@uri')"
    tr -d '\r' <"$W/$1.head" | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' >"$W/$1.cookie"
    tr -d '\r' <"$W/$1.head" | sed -n 's/^[Ll]ocation: //p' |
        "$VENV/bin/python" -c 'import sys, urllib.parse as u; print(u.parse_qs(u.urlparse(sys.stdin.read().strip()).query)["service"][0])' >"$W/$1.service"
}
start_login mallory; start_login victim
MALLORY_SERVICE=$(cat "$W/mallory.service"); VICTIM_SERVICE=$(cat "$W/victim.service")
expect "each browser login's service URL carries its own state" "yes" \
    "$([ -n "$MALLORY_SERVICE" ] && [ "$MALLORY_SERVICE" != "$VICTIM_SERVICE" ] && case "$MALLORY_SERVICE" in "$S/xuc/api/2.0/auth/cas/callback?state="*) echo yes;; esac)"
expect "the state cookie is __Secure- prefixed (plain-HTTP listener, Secure by default)" "__Secure-sesame_cas_state" \
    "$(cut -d= -f1 "$W/victim.cookie")"
MALLORY_TICKET=$(ticket "$MALLORY_SERVICE")
callback() { # callback NAME URL: the callback with NAME's cookie
    curl -s -o /dev/null -H "Cookie: $(cat "$W/$1.cookie")" -w '%{http_code}' "$2"
}
expect "Mallory's ticket delivered into the victim's browser: 401" 401 \
    "$(callback victim "$MALLORY_SERVICE&ticket=$MALLORY_TICKET")"
expect "... and with the victim's state put in the URL: 401 (CAS issued the ticket for Mallory's)" 401 \
    "$(callback victim "$VICTIM_SERVICE&ticket=$(ticket "$MALLORY_SERVICE")")"
expect "a callback with no state in its URL: 401" 401 \
    "$(callback victim "$S/xuc/api/2.0/auth/cas/callback?ticket=$(ticket "$VICTIM_SERVICE")")"
expect "Mallory's own browser finishes her login with her ticket (it was never spent)" 302 \
    "$(callback mallory "$MALLORY_SERVICE&ticket=$MALLORY_TICKET")"
expect "the same login state a second time, with a fresh ticket for it: 401 (each state is used once)" 401 \
    "$(callback mallory "$MALLORY_SERVICE&ticket=$(ticket "$MALLORY_SERVICE")")"
expect "a state cookie Sesame did not seal: 401" 401 \
    "$(curl -s -o /dev/null -w '%{http_code}' -H 'Cookie: __Secure-sesame_cas_state=AAAA' "$VICTIM_SERVICE&ticket=$(ticket "$VICTIM_SERVICE")")"

# --- A flood of unauthenticated login starts stores nothing: 10 002 of
# them, then a real browser login still succeeds.
START_URL="$S/xuc/api/2.0/auth/cas/login?redirect=$(jq -rn --arg u "$APP" '$u|@uri')"
for _ in $(seq 10002); do printf 'url = "%s"\noutput = /dev/null\n' "$START_URL"; done >"$W/flood.cfg"
curl -s -Z --parallel-max 32 -K "$W/flood.cfg" -w '%{http_code}\n' >"$W/flood.codes"
expect "10 002 login starts: all 302" 10002 "$(grep -c '^302$' "$W/flood.codes")"
FLOOD_T=$(browser_token "$S/xuc/api/2.0/auth/cas/login?redirect=$(jq -rn --arg u "$APP" '$u|@uri')" "$APP" alice alice-cas-pw)
expect "after the flood, a browser login in Chromium still ends with a token" 36 "${#FLOOD_T}"

# --- 4. The CAS server stops, then comes back.
T5=$(ticket "$APP")
stop_pid "$CAS_PID" >/dev/null 2>&1
expect "CAS server down: 503" "503 CasServerUnavailable" "$(exchange "$APP" "$T5") $(jq -r .error "$W/out.json")"
start_cas || fail "the CAS server restarts"
expect "CAS server back: a new ticket trades at once" 200 "$(exchange "$APP" "$(ticket "$APP")")"

if grep -q -e "$T1" -e "$BT" "$W"/s/sesame-S.log; then
    fail "Sesame's log holds a ticket or a token"
else
    pass "Sesame's log holds no ticket and no token"
fi
finish
