#!/usr/bin/env bash
# e2e suite `gateway`: a real nginx on loopback, in front of a tiny upstream,
# asks Sesame about every request with `auth_request` (the configuration of
# docs/gateway.md); then Authlib, a generic OAuth 2.0 client library, uses
# introspection, token exchange and revocation.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
e2e_setup gateway
W="$E2E_WORK"
command -v nginx >/dev/null || { fail "nginx is installed"; finish; exit; }

# --- Python clients, in a virtualenv kept between runs.
ensure_venv || { fail "the Python client libraries install"; finish; exit; }

# --- Sesame: alice, a web-service account, gateway rules.
SESAME_PORT=$(free_port)
UPSTREAM_PORT=$(free_port)
NGINX_PORT=$(free_port)
cp "$E2E_ROOT/examples/demo-users.yml" "$W/users.yml"
WS_HASH=$(printf 'ws-secret\n' | "$SESAME_BIN" hash-password)
cat >>"$W/users.yml" <<YAML
services:
  - login: ws
    uuid: 0b7e54a6-6f5c-4a26-8f0e-3c2f1b0d9a11
    password_hash: "$WS_HASH"
YAML
cat >"$W/config.yml" <<YAML
listen: {address: 127.0.0.1, port: $SESAME_PORT, tls: {enabled: false}}
data_dir: data
users_file: users.yml
enabled_backend_plugins: {xivo_user: true, xivo_service: true}
backend_policies: {xivo_user: uc_user}
policies:
  uc_user: [confd.users.me.read, "dird.#"]
gateway:
  unmatched: deny
  rules:
    - {path_prefix: /api/confd/users/me, acl: confd.users.me.read}
    - {path_prefix: /api/dird/, methods: [GET, HEAD], acl: dird.phonebook.read}
    - {path_prefix: /api/dird/, acl: admin.dird.write}
    - {path_prefix: /api/admin/, acl: admin.everything}
    - {path_prefix: /api/public/}
YAML
start_sesame GW "$W/config.yml" "$SESAME_PORT" || { fail "Sesame starts"; finish; exit; }

# --- The upstream: answers with the request line and the identity headers it got.
cat >"$W/upstream.py" <<'PY'
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class Echo(BaseHTTPRequestHandler):
    def answer(self):
        body = json.dumps({
            "path": self.path.split("?")[0],
            "user": self.headers.get("X-Auth-User"),
            "id": self.headers.get("X-Auth-Id"),
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = do_DELETE = answer
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
PY
python3 "$W/upstream.py" "$UPSTREAM_PORT" &
E2E_PIDS+=("$!")
wait_port "$UPSTREAM_PORT" || { fail "the upstream starts"; finish; exit; }

# --- nginx, with the configuration the docs show.
N="$W/nginx"
mkdir -p "$N/tmp"
sed -e "s|@NGINX_PORT@|$NGINX_PORT|g" -e "s|@SESAME@|127.0.0.1:$SESAME_PORT|g" \
    -e "s|@UPSTREAM@|127.0.0.1:$UPSTREAM_PORT|g" -e "s|@DIR@|$N|g" \
    "$E2E_ROOT/e2e/fixtures/nginx.conf" >"$N/nginx.conf"
nginx -t -p "$N" -c "$N/nginx.conf" -e "$N/error.log" >"$N/test.log" 2>&1 || { cat "$N/test.log"; fail "nginx.conf is valid"; finish; exit; }
nginx -p "$N" -c "$N/nginx.conf" -e "$N/error.log" &
E2E_PIDS+=("$!")
wait_port "$NGINX_PORT" || { cat "$N/error.log"; fail "nginx starts"; finish; exit; }
pass "nginx starts in front of the upstream, with auth_request to Sesame"
NGINX="http://127.0.0.1:$NGINX_PORT"

token_login "$SESAME_PORT" xivo_user alice s3cre7 >/dev/null
T=$(token_of)
expect "alice gets a token" 36 "${#T}"

get() { curl -s -o "$W/body.json" -w '%{http_code}' "$@"; }
expect "no token: 401" 401 "$(get "$NGINX/api/confd/users/me")"
expect "X-Auth-Token: 200" 200 "$(get -H "X-Auth-Token: $T" "$NGINX/api/confd/users/me")"
expect "the upstream got X-Auth-User and X-Auth-Id" "alice 63f3dc3c-865d-419e-bec2-e18c4b118224" "$(jq -r '"\(.user) \(.id)"' "$W/body.json")"
expect "Authorization: Bearer: 200" 200 "$(get -H "Authorization: Bearer $T" "$NGINX/api/dird/phonebook")"
expect "the upstream got the identity (Bearer)" alice "$(jq -r .user "$W/body.json")"
expect "?token= in the URL: 200" 200 "$(get "$NGINX/api/confd/users/me?x=1&token=$T")"
expect "the upstream got the identity (?token=)" alice "$(jq -r .user "$W/body.json")"
expect "a client cannot forge the identity headers" alice \
    "$(curl -s -H "X-Auth-Token: $T" -H 'X-Auth-User: root' "$NGINX/api/public/x" | jq -r .user)"
expect "a method the ACL does not cover: 403" 403 "$(get -X DELETE -H "X-Auth-Token: $T" "$NGINX/api/dird/phonebook/1")"
expect "a path needing an ACL alice lacks: 403" 403 "$(get -H "X-Auth-Token: $T" "$NGINX/api/admin/reboot")"
expect "a path no rule lists (unmatched: deny): 403" 403 "$(get -H "X-Auth-Token: $T" "$NGINX/elsewhere")"
expect "an encoded climb out of a public prefix: 403" 403 \
    "$(get --path-as-is -H "X-Auth-Token: $T" "$NGINX/api/public/%2e%2e/admin/reboot")"
expect "a wrong token: 401" 401 "$(get -H "X-Auth-Token: 0f7c1a52-2d0c-4a8e-9a55-6a8f8b0e2d11" "$NGINX/api/confd/users/me")"
# Spellings of /api/admin/reboot that back ends serve as it (merged
# slashes, ;parameters, another case): the rule still applies.
for spelled in "//api/admin/reboot" "/api;x=1/admin/reboot" "/api/admin;/reboot" "/API/admin/reboot" "/api//admin/reboot"; do
    expect "a path spelled $spelled needs the rule's ACL: 403" 403 \
        "$(get --path-as-is -H "X-Auth-Token: $T" "$NGINX$spelled")"
done
expect "an encoded semicolon is refused: 403" 403 \
    "$(get --path-as-is -H "X-Auth-Token: $T" "$NGINX/api/public%3bx/y")"

# --- OAuth 2.0 with Authlib (introspection, exchange, revocation).
AUTHLIB_INSECURE_TRANSPORT=1 "$VENV/bin/python" "$E2E_ROOT/e2e/clients/oauth_client.py" \
    "http://127.0.0.1:$SESAME_PORT" "$NGINX" "$T" >"$W/authlib.out" 2>&1
while IFS= read -r line; do
    case "$line" in
        PASS\ *) pass "${line#PASS }" ;;
        FAIL\ *) fail "${line#FAIL }" ;;
        *) echo "   $line" ;;
    esac
done <"$W/authlib.out"
grep -q '^PASS revocation answers 200' "$W/authlib.out" || fail "the Authlib client ran to the end"

# --- A revoked token is refused by nginx; nothing secret in either log.
curl -s -o /dev/null -X DELETE "http://127.0.0.1:$SESAME_PORT/0.1/token/$T"
expect "revoked token: 401" 401 "$(get -H "X-Auth-Token: $T" "$NGINX/api/confd/users/me")"
if grep -q -e "$T" "$W"/sesame-GW.log "$N"/access.log; then
    fail "a log holds the token"
else
    pass "neither Sesame's nor nginx's log holds the token"
fi
finish
