#!/usr/bin/env bash
# e2e suite `wazo`: Sesame where a Wazo platform has wazo-auth (plain HTTP
# on 127.0.0.1, behind nginx's `location /api/auth/` as wazo-auth ships it,
# see docs/migration.md), driven by @wazo/sdk's published code: an app with
# a client id logs in offline, checks its token, logs in again with its
# refresh token once the token expired (also through the SDK's own replay),
# lists and ends its sessions, logs out and revokes its refresh token; a daemon renews its service token
# with no backend.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
e2e_setup wazo
W="$E2E_WORK"
command -v nginx >/dev/null || { fail "nginx is installed"; finish; exit; }
command -v node >/dev/null || { fail "node is installed"; finish; exit; }
ensure_wazo_sdk || { fail "@wazo/sdk $WAZO_SDK_VERSION is fetched from npm"; finish; exit; }

TENANT=3c4a7a9e-8f0e-4b8c-9d2e-5a6b7c8d9e01
SESAME_PORT=$(free_port)
NGINX_PORT=$(free_port)
cp "$E2E_ROOT/examples/demo-users.yml" "$W/users.yml"
KEY_HASH=$(printf 'calld-key\n' | "$SESAME_BIN" hash-password)
cat >>"$W/users.yml" <<YAML
services:
  - login: wazo-calld
    uuid: 7d1c5b2a-3e4f-4a6b-8c9d-0e1f2a3b4c5d
    password_hash: "$KEY_HASH"
    acl: [auth.tokens.read]
YAML
cat >"$W/config.yml" <<YAML
listen: {address: 127.0.0.1, port: $SESAME_PORT, tls: {enabled: false}, trusted_proxies: [127.0.0.1]}
data_dir: data
users_file: users.yml
default_tenant_uuid: $TENANT
tenants:
  - {uuid: $TENANT, name: Platform, slug: platform}
  - {uuid: 6d7e8f90-1a2b-4c3d-8e4f-5a6b7c8d9e02, name: Branch, domain_names: [branch.example]}
enabled_backend_plugins: {xivo_user: true, xivo_service: true}
backend_policies: {xivo_user: wazo_user}
policies:
  wazo_user: [confd.users.me.read, "auth.users.me.tokens.e2e-app.delete", "auth.users.me.sessions.#", auth.tenants.read]
YAML
start_sesame S "$W/config.yml" "$SESAME_PORT" || { fail "Sesame starts"; finish; exit; }

# --- nginx with TLS, and wazo-auth's location (etc/nginx/locations/https-available/wazo-auth).
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$W/nginx.key" -out "$W/nginx.crt" 2>/dev/null ||
    { fail "a certificate for nginx"; finish; exit; }
start_nginx "$NGINX_PORT" "
        ssl_certificate $W/nginx.crt;
        ssl_certificate_key $W/nginx.key;
        location ^~ /api/auth/ {
            proxy_pass http://127.0.0.1:$SESAME_PORT/;
            proxy_set_header Host \$http_host;
            proxy_set_header X-Script-Name /api/auth;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }" ssl || { fail "nginx starts with TLS"; finish; exit; }
pass "nginx forwards https://127.0.0.1:$NGINX_PORT/api/auth/ to Sesame, as on a Wazo platform"

sdk() { NODE_EXTRA_CA_CERTS="$W/nginx.crt" timeout 60 node "$E2E_ROOT/e2e/wazo/sdk_flow.cjs" "127.0.0.1:$NGINX_PORT" "$WAZO_SDK" "$1" 2>>"$W/sdk.err"; }

# --- The app.
APP=$(sdk app) || { cat "$W/sdk.err"; fail "the SDK's flow runs: $APP"; finish; exit; }
echo "$APP" >"$W/app.json"
q() { jq -c "$1" "$W/app.json"; }
expect "logIn with a client id: a token and a refresh token" "true true" \
    "$(q .login.token) $(jq '.login.refreshToken | length == 36' "$W/app.json")"
expect "the session's user and tenant, as the SDK reads them" "\"63f3dc3c-865d-419e-bec2-e18c4b118224\" \"$TENANT\"" \
    "$(q .login.uuid) $(q .login.tenantUuid)"
expect "checkToken: the fresh token is valid" true "$(q .checkFresh)"
expect "checkToken: the token is refused once expired" false "$(q '.checkExpired.ok and .checkExpired.value')"
expect "refreshToken: a new valid token for the same user, no password" "true true true" \
    "$(q .refreshed.newToken) $(q .refreshed.valid) $(q .refreshed.sameUser)"
expect "the next offline login returns the same refresh token" true "$(q .sameRefreshToken)"
expect "the SDK's replay: an expired token is renewed and the call answered" "true true" \
    "$(q .replayed.ok) $(q .replayed.renewedToken)"
expect "getUserSession: the user's sessions, the refresh login's among them" "true true true" \
    "$(q .sessions.ok) $(q .sessions.hasRenewed) $(q .sessions.allAlice)"
expect "listTenants: the user's tenant and the one below it" '["Branch:sub","Platform:top"]' "$(q .tenants)"
expect "deleteUserSession ends that session: its token refused, the other kept, no longer listed" "true false true false" \
    "$(q .deleteSession.ok) $(q '.checkAfterDeleteSession.ok and .checkAfterDeleteSession.value') $(q .checkOtherSession) $(q .sessionsAfter)"
expect "logOut, then the token is refused" "true false" \
    "$(q .logout.value) $(q '.checkAfterLogout.ok and .checkAfterLogout.value')"
expect "deleteRefreshToken (DELETE /users/me/tokens/e2e-app)" true "$(q .deleteRefresh.value)"
expect "the revoked refresh token mints nothing" false "$(q .refreshAfterDelete.ok)"

# --- The daemon.
SVC=$(sdk service) || { cat "$W/sdk.err"; fail "the service login runs: $SVC"; finish; exit; }
expect "a daemon's {\"expiration\": 3600}, no backend: a token" "true true \"external_api\"" \
    "$(jq -c .ok <<<"$SVC") $(jq -c .token <<<"$SVC") $(jq -c .purpose <<<"$SVC")"

# --- What nginx and Sesame logged.
grep -q ' "POST /api/auth/0.1/token" 200' "$W/nginx/access.log" && pass "the logins went through nginx" ||
    fail "the logins went through nginx"
AUDIT=$(grep -c '"refresh_token"' "$W/sesame-S.log")
[ "$AUDIT" -ge 2 ] && pass "logins by refresh token are audited ($AUDIT)" || fail "logins by refresh token are audited ($AUDIT)"
if grep -qF "$(jq -r .login.refreshToken "$W/app.json")" "$W/sesame-S.log" "$W/nginx/access.log"; then
    fail "no log holds the refresh token"
else
    pass "no log holds the refresh token"
fi
finish
