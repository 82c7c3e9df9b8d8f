#!/usr/bin/env bash
# e2e suite `oidc`: a real OpenID provider (panva's oidc-provider, on Node)
# on loopback. Tokens from its code flow trade for Sesame tokens on the UC,
# /0.1 and OAuth 2.0 APIs; hand-made bad tokens are refused; headless
# Chromium completes the browser login; the provider rotates its keys, stops,
# and comes back.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
e2e_setup oidc
W="$E2E_WORK"
command -v node >/dev/null || { fail "node is installed"; finish; exit; }
CHROMIUM=$(command -v chromium || true)
[ -n "$CHROMIUM" ] || { fail "chromium is installed"; finish; exit; }

# --- Node packages (oidc-provider, playwright-core) and Python clients,
# installed once in target/.
ensure_node || { fail "the Node packages install (oidc-provider, playwright-core)"; finish; exit; }
ensure_venv || { fail "the Python client libraries install"; finish; exit; }
TOOL=("$VENV/bin/python" "$E2E_ROOT/e2e/clients/oidc_tool.py")
"${TOOL[@]}" keys "$W" || { fail "signing keys are generated"; finish; exit; }

OP_PORT=$(free_port); SESAME_PORT=$(free_port); APP_PORT=$(free_port)
ISSUER="http://127.0.0.1:$OP_PORT"
CALLBACK="http://127.0.0.1:$SESAME_PORT/xuc/api/2.0/auth/oidc/callback"
APP="http://127.0.0.1:$APP_PORT/app/"

OP_PID=""
start_op() { # start_op JWKS_FILE
    node "$NODE_DIR/provider.mjs" "$OP_PORT" "$1" "$CALLBACK" >>"$W/op.log" 2>&1 &
    OP_PID=$!
    E2E_PIDS+=("$OP_PID")
    wait_port "$OP_PORT"
}
start_op "$W/jwks-1.json" || { cat "$W/op.log"; fail "the OpenID provider starts"; finish; exit; }
pass "oidc-provider starts on loopback"

# --- Sesame with that provider.
sesame_config() { # sesame_config DIR PORT
    mkdir -p "$1"
    cp "$E2E_ROOT/examples/demo-users.yml" "$1/users.yml"
    cat >"$1/config.yml" <<YAML
listen: {address: 127.0.0.1, port: $2, tls: {enabled: false}}
data_dir: data
users_file: users.yml
enabled_backend_plugins: {xivo_user: true}
policies:
  oidc_admin: [admin.oidc.read]
oidc:
  allowed_redirects: ["$APP"]
  providers:
    test:
      issuer: $ISSUER
      client_id: sesame
      client_secret: sesame-secret
      audiences: [urn:sesame]
      redirect_uri: http://127.0.0.1:$2/xuc/api/2.0/auth/oidc/callback
      jwks_min_refresh_secs: 1
      jwks_max_age_secs: 3
      leeway_secs: 5
      group_policies: {uc-admins: oidc_admin}
YAML
}
sesame_config "$W/s" "$SESAME_PORT"
start_sesame S "$W/s/config.yml" "$SESAME_PORT" || { fail "Sesame starts"; finish; exit; }
S="http://127.0.0.1:$SESAME_PORT"

uc_oidc() { # uc_oidc TOKEN [BASE]: POST /xuc/api/2.0/auth/oidc with a Bearer token
    curl -s -o "$W/out.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $1" "${2:-$S}/xuc/api/2.0/auth/oidc"
}

# --- 1. Real tokens from the provider's code flow.
"${TOOL[@]}" flow "$ISSUER" "$CALLBACK" alice >"$W/alice.json" || { fail "the provider's code flow gives tokens"; finish; exit; }
ID_TOKEN=$(jq -r .id_token "$W/alice.json"); ACCESS=$(jq -r .access_token "$W/alice.json")
expect "an id_token trades for a Sesame token (UC API, Bearer)" 200 "$(uc_oidc "$ID_TOKEN")"
expect "the answer is alice's, with a TTL" "alice true" "$(jq -r '"\(.login) \(.TTL > 0)"' "$W/out.json")"
T=$(jq -r .token "$W/out.json")
expect "the Sesame token is valid on the UC check" 200 \
    "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $T" "$S/xuc/api/2.0/auth/check")"
expect "a JWT access token trades too (JSON body)" 200 \
    "$(curl -s -o "$W/out.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -d "{\"token\": \"$ACCESS\"}" "$S/xuc/api/2.0/auth/oidc")"
OUT=$(curl -s -X POST -H "Authorization: Bearer $ID_TOKEN" -H 'Content-Type: application/json' "$S/0.1/token" -d '{"backend": "oidc", "expiration": 300}')
T01=$(jq -r '.data.token // empty' <<<"$OUT")
expect "/0.1/token with backend oidc" "63f3dc3c-865d-419e-bec2-e18c4b118224" "$(jq -r .data.xivo_user_uuid <<<"$OUT")"
expect "the group uc-admins maps to the policy oidc_admin" 204 \
    "$(curl -s -o /dev/null -w '%{http_code}' -I "$S/0.1/token/$T01?scope=admin.oidc.read")"
expect "RFC 8693: an id_token exchanged for a Sesame token" 200 \
    "$(curl -s -o "$W/out.json" -w '%{http_code}' "$S/oauth2/token" \
        --data-urlencode grant_type=urn:ietf:params:oauth:grant-type:token-exchange \
        --data-urlencode "subject_token=$ID_TOKEN" \
        --data-urlencode subject_token_type=urn:ietf:params:oauth:token-type:id_token)"
"${TOOL[@]}" flow "$ISSUER" "$CALLBACK" bob >"$W/bob.json"
expect "a valid token of a user without a local account: 404" 404 "$(uc_oidc "$(jq -r .id_token "$W/bob.json")")"
expect "... with the UserNotFound code" UserNotFound "$(jq -r .error "$W/out.json")"

# --- 2. Bad tokens.
for kind in expired wrong-aud future-iat tampered alg-none hs256-public-key no-username; do
    expect "refused: $kind" "401 InvalidOidcToken" \
        "$(uc_oidc "$("${TOOL[@]}" mint "$W/jwks-1.json" "$ISSUER" "$kind")") $(jq -r .error "$W/out.json")"
done
expect "refused: a token from another issuer" 401 \
    "$(uc_oidc "$("${TOOL[@]}" mint "$W/jwks-1.json" "http://127.0.0.1:1" good)")"
expect "refused: garbage" 401 "$(uc_oidc not.a.jwt)"
BEFORE=$(curl -s "$ISSUER/_stats" | jq .jwks)
UNKNOWN_KID=$("${TOOL[@]}" mint "$W/jwks-3.json" "$ISSUER" good)
for _ in $(seq 10); do uc_oidc "$UNKNOWN_KID" >>"$W/unknown-kid.codes"; echo >>"$W/unknown-kid.codes"; done
expect "refused: an unknown key (10 times)" 10 "$(grep -c '^401$' "$W/unknown-kid.codes")"
AFTER=$(curl -s "$ISSUER/_stats" | jq .jwks)
# One fetch for the unknown key, and at most one background refresh (the
# keys' age is 3 s here) that may fall in the same moment.
if [ $((AFTER - BEFORE)) -le 2 ]; then pass "10 unknown-key tokens cost at most one JWKS fetch ($((AFTER - BEFORE)) with the background refresh)"; else fail "10 unknown-key tokens cost $((AFTER - BEFORE)) JWKS fetches"; fi

# --- 3. The browser login, in headless Chromium.
start_app "$APP_PORT"
BT=$(browser_token "$S/xuc/api/2.0/auth/oidc/login?redirect=$(jq -rn --arg u "$APP" '$u|@uri')" "$APP" alice any)
expect "Chromium ends on the application with a Sesame token in the fragment" 36 "${#BT}"
expect "the browser's token is alice's" alice \
    "$(curl -s -H "X-Auth-Token: $BT" "$S/xuc/api/2.0/auth/check" | jq -r .login)"
expect "a redirect URL not in the allow-list: 400" 400 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$S/xuc/api/2.0/auth/oidc/login?redirect=http://evil.example/")"
expect "a callback without the browser's state cookie: 401" 401 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$S/xuc/api/2.0/auth/oidc/callback?code=x&state=y")"
expect "a forged state, even with a matching cookie: 401" 401 \
    "$(curl -s -o /dev/null -w '%{http_code}' -H 'Cookie: __Secure-sesame_oidc_state=y' "$S/xuc/api/2.0/auth/oidc/callback?code=x&state=y")"
LOGIN_COOKIE=$(curl -s -o /dev/null -D - "$S/xuc/api/2.0/auth/oidc/login?redirect=$(jq -rn --arg u "$APP" '$u|@uri')" | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: //p')
expect "the state cookie is Secure and __Secure- prefixed, HttpOnly, SameSite=Lax, for the flow's path (plain-HTTP listener)" "yes" \
    "$(case "$LOGIN_COOKIE" in __Secure-sesame_oidc_state=*"Path=/xuc/api/2.0/auth/oidc; HttpOnly; SameSite=Lax; Max-Age=300; Secure") echo yes;; *) echo "$LOGIN_COOKIE";; esac)"
expect "the cookie holds the state sealed: no redirect URL or verifier in clear" "" \
    "$(grep -o -e '127.0.0.1' -e 'app' <<<"$LOGIN_COOKIE" | head -1)"

# --- 4. Key rotation: the provider restarts with a new key.
stop_pid "$OP_PID" >/dev/null 2>&1
start_op "$W/jwks-2.json" || fail "the provider restarts with a new key"
# The attack of a leaked key: its holder only ever sends tokens with the
# old kid, which Sesame has cached. Past jwks_max_age_secs (3 s, plus the
# first retry if the background refresh fell while the provider was down),
# the background refresh has dropped it.
sleep 4.5
expect "a retired key is refused within the maximum age, with no new-key token first" "401 InvalidOidcToken" \
    "$(uc_oidc "$("${TOOL[@]}" mint "$W/jwks-1.json" "$ISSUER" good)") $(jq -r .error "$W/out.json")"
"${TOOL[@]}" flow "$ISSUER" "$CALLBACK" alice >"$W/alice2.json"
expect "after rotation, a new token validates (no Sesame restart)" 200 "$(uc_oidc "$(jq -r .id_token "$W/alice2.json")")"
expect "a token signed with the retired key is refused" 401 "$(uc_oidc "$("${TOOL[@]}" mint "$W/jwks-1.json" "$ISSUER" good)")"

# --- 5. The provider stops: cached keys still work; a Sesame that never
# reached it answers 503, then recovers when it returns.
stop_pid "$OP_PID" >/dev/null 2>&1
expect "provider down: a token validates with the cached JWKS" 200 \
    "$(uc_oidc "$("${TOOL[@]}" mint "$W/jwks-2.json" "$ISSUER" good)")"
sleep 1.1   # past jwks_min_refresh_secs: an unknown key needs a fetch
expect "provider down: an unknown key is 503, not a 401 that blames the token" "503 OidcProviderUnavailable" \
    "$(uc_oidc "$("${TOOL[@]}" mint "$W/jwks-3.json" "$ISSUER" good)") $(jq -r .error "$W/out.json")"
expect "... on /0.1/token too" 503 \
    "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $("${TOOL[@]}" mint "$W/jwks-3.json" "$ISSUER" good)" \
        -H 'Content-Type: application/json' -d '{"backend": "oidc"}' "$S/0.1/token")"
expect "... and on the RFC 8693 exchange" 503 \
    "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$S/oauth2/token" \
        --data-urlencode grant_type=urn:ietf:params:oauth:grant-type:token-exchange \
        --data-urlencode "subject_token=$("${TOOL[@]}" mint "$W/jwks-3.json" "$ISSUER" good)" \
        --data-urlencode subject_token_type=urn:ietf:params:oauth:token-type:id_token)"
P2=$(free_port)
sesame_config "$W/s2" "$P2"
start_sesame S2 "$W/s2/config.yml" "$P2" || fail "a second Sesame starts while the provider is down"
GOOD=$("${TOOL[@]}" mint "$W/jwks-2.json" "$ISSUER" good)
expect "nothing cached and the provider down: 503" 503 "$(uc_oidc "$GOOD" "http://127.0.0.1:$P2")"
expect "... with the OidcProviderUnavailable code" OidcProviderUnavailable "$(jq -r .error "$W/out.json")"
start_op "$W/jwks-2.json" || fail "the provider comes back"
sleep 1.1   # past the discovery retry interval
expect "the provider back: the same token validates" 200 "$(uc_oidc "$GOOD" "http://127.0.0.1:$P2")"

if grep -q -e "$T" -e "$BT" -e "$ID_TOKEN" "$W"/s/sesame-S.log; then
    fail "Sesame's log holds a token"
else
    pass "Sesame's log holds no token"
fi
finish
