#!/usr/bin/env bash
# e2e suite `websession`: a stand-in web application (login, session
# cookies, a permissions endpoint, a page, a protected API) and Sesame, both
# behind nginx as in the seed's schema. Headless Chromium opens the page; its
# script trades the session cookie for a token with mapped ACLs and calls the
# protected API, which checks the ACL with Sesame.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
e2e_setup websession
W="$E2E_WORK"
command -v nginx >/dev/null || { fail "nginx is installed"; finish; exit; }
command -v chromium >/dev/null || { fail "chromium is installed"; finish; exit; }
ensure_node || { fail "the Node packages install (playwright-core)"; finish; exit; }

WEBAPP_PORT=$(free_port); SESAME_PORT=$(free_port); NGINX_PORT=$(free_port)
S="http://127.0.0.1:$SESAME_PORT"
SITE="http://127.0.0.1:$NGINX_PORT"

# --- Sesame: the mapping table of the seed's example.
mkdir -p "$W/s"
cp "$E2E_ROOT/examples/demo-users.yml" "$W/s/users.yml"
cat >"$W/s/config.yml" <<YAML
listen: {address: 127.0.0.1, port: $SESAME_PORT, tls: {enabled: false}}
data_dir: data
users_file: users.yml
enabled_backend_plugins: {xivo_user: true}
policies:
  webi_superuser: ["confd.#"]
web_session:
  validation_url: http://127.0.0.1:$WEBAPP_PORT/api/session
  cookie_names: [webi_session]
  timeout_ms: 2000
  superuser_policy: webi_superuser
  permission_map:
    service.ipbx.general_settings.sip: confd.asterisk.sip.general.#
    service.ipbx.users: [confd.users.read, confd.users.update]
    service.ipbx.lines: confd.lines.read
YAML
start_sesame S "$W/s/config.yml" "$SESAME_PORT" || { fail "Sesame starts"; finish; exit; }

WEBAPP_PID=""
start_webapp() {
    python3 "$E2E_ROOT/e2e/websession/webapp.py" "$WEBAPP_PORT" "$S" >>"$W/webapp.log" 2>&1 &
    WEBAPP_PID=$!
    E2E_PIDS+=("$WEBAPP_PID")
    wait_port "$WEBAPP_PORT"
}
start_webapp || { fail "the web application starts"; finish; exit; }

# --- nginx in front of both: the page's origin serves Sesame under /sesame/.
start_nginx "$NGINX_PORT" "
        location /sesame/ { proxy_pass http://127.0.0.1:$SESAME_PORT/; }
        location / { proxy_pass http://127.0.0.1:$WEBAPP_PORT; }" || { fail "nginx starts"; finish; exit; }
pass "the web application, Sesame and nginx start"

page() { # page USER [LOGOUT=1]: what the page saw, as JSON
    (cd "$NODE_DIR" && env CHROMIUM="$(command -v chromium)" "${@:2}" timeout 60 node websession_page.mjs "$SITE" "$1" 2>>"$W/browser.err")
}
acl_of() { curl -s "$S/0.1/token/$1" | jq -c '.data.acl'; }

# --- An administrator with a few permissions.
OUT=$(page admin)
T=$(jq -r .token <<<"$OUT")
expect "the page gets a token for the admin's session" 200 "$(jq -r .status <<<"$OUT")"
expect "the token carries exactly the mapped ACLs" \
    '["confd.asterisk.sip.general.#","confd.users.read","confd.users.update"]' "$(acl_of "$T")"
expect "the protected API accepts it (confd.users.read)" 200 "$(jq -r .api <<<"$OUT")"

# --- A user with no permission: a token with no ACL.
OUT=$(page viewer)
expect "a user with no permission gets a token" 200 "$(jq -r .status <<<"$OUT")"
expect "... with no ACL" '[]' "$(acl_of "$(jq -r .token <<<"$OUT")")"
expect "... which the protected API refuses" 403 "$(jq -r .api <<<"$OUT")"

# --- A superuser: the configured policy on top.
OUT=$(page root)
expect "a superuser gets the superuser policy" '["confd.users.read","confd.users.update","confd.#"]' "$(acl_of "$(jq -r .token <<<"$OUT")")"

# --- A logged-out cookie.
OUT=$(page admin LOGOUT=1)
expect "a logged-out session is refused: 401" 401 "$(jq -r .status <<<"$OUT")"
expect "no cookie at all: 401 InvalidSession" "401 InvalidSession" \
    "$(curl -s -o "$W/out.json" -w '%{http_code}' -X POST "$S/xuc/api/2.0/auth/websession") $(jq -r .error "$W/out.json")"

# --- The /0.1 route, with a cookie from a scripted login.
curl -s -o /dev/null -c "$W/jar" "$SITE/login?user=admin"
COOKIE=$(awk '$6 == "webi_session" {print $7}' "$W/jar")
expect "/0.1/token with backend web_session and the cookie" 200 \
    "$(curl -s -o "$W/out.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -H "Cookie: theme=dark; webi_session=$COOKIE" "$S/0.1/token" -d '{"backend": "web_session"}')"

# --- The dry run prints what a document maps to.
DRY=$(printf '{"service": {"ipbx": {"users": true, "unknown": true}}}' | "$SESAME_BIN" -c "$W/s/config.yml" web-session-acl)
expect "the dry run maps a document" "confd.users.read confd.users.update" "$(sed -n '/^# acl/,$p' <<<"$DRY" | tail -n +2 | tr '\n' ' ' | sed 's/ $//')"
expect "the dry run shows unmapped permissions" 1 "$(grep -c 'service.ipbx.unknown  (unmapped)' <<<"$DRY")"

# --- The mapping table is reloaded with the configuration (SIGHUP).
sed -i 's/service.ipbx.users: \[confd.users.read, confd.users.update\]/service.ipbx.users: confd.users.read/' "$W/s/config.yml"
kill -HUP "$S_PID"
reloaded() { curl -s -o "$W/out.json" -X POST -H "Cookie: webi_session=$COOKIE" "$S/xuc/api/2.0/auth/websession"; acl_of "$(jq -r .token "$W/out.json")"; }
for _ in $(seq 20); do [ "$(reloaded)" = '["confd.asterisk.sip.general.#","confd.users.read"]' ] && break; sleep 0.2; done
expect "after SIGHUP, tokens follow the edited mapping table" '["confd.asterisk.sip.general.#","confd.users.read"]' "$(reloaded)"

# --- The web application stops: 503, then back.
stop_pid "$WEBAPP_PID" >/dev/null 2>&1
expect "web application down: 503 WebSessionUnavailable" "503 WebSessionUnavailable" \
    "$(curl -s -o "$W/out.json" -w '%{http_code}' -X POST -H "Cookie: webi_session=$COOKIE" "$S/xuc/api/2.0/auth/websession") $(jq -r .error "$W/out.json")"
start_webapp || fail "the web application restarts"
expect "web application back (its sessions are gone): 401" 401 \
    "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Cookie: webi_session=$COOKIE" "$S/xuc/api/2.0/auth/websession")"
expect "a new session works at once" 200 "$(jq -r .status <<<"$(page admin)")"

if grep -q -e "$COOKIE" -e "$T" "$W"/s/sesame-S.log; then
    fail "Sesame's log holds a session cookie or a token"
else
    pass "Sesame's log holds no session cookie and no token"
fi
finish
