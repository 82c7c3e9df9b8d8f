#!/usr/bin/env bash
# e2e suite `kerberos`: a throwaway MIT realm (TEST.LOCAL, with a trusted
# second realm OTHER.TEST) served by krb5kdc on a free loopback port. curl
# and headless Chromium get Sesame tokens with Kerberos tickets and no
# password; forged, replayed, expired and misdirected tickets, users with
# no local account, realms not allowed, and the keytab going away.
#
# Host names: Sesame is reached as sso.sesame.test (and proxy.sesame.test);
# curl's --resolve and Chromium's --host-resolver-rules send those names to
# 127.0.0.1, so nothing depends on the machine's DNS or /etc/hosts.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
e2e_setup kerberos
W="$E2E_WORK"
for tool in krb5kdc kdb5_util kadmin.local kinit chromium nginx; do
    command -v "$tool" >/dev/null || PATH="$PATH:/usr/sbin"
    command -v "$tool" >/dev/null || { fail "$tool is installed"; finish; exit; }
done
SYS_PY=/usr/bin/python3
"$SYS_PY" -c 'import gssapi' 2>/dev/null || { fail "python3-gssapi is installed"; finish; exit; }
ensure_node || { fail "the Node packages install (playwright-core)"; finish; exit; }
if ! "$SESAME_BIN" --version >/dev/null 2>&1; then fail "the Sesame binary runs"; finish; exit; fi

KDC_PORT=$(free_port); SESAME_PORT=$(free_port)
K="$W/krb5"
mkdir -p "$K" "$W/rcache"
export KRB5_CONFIG="$K/krb5.conf" KRB5_KDC_PROFILE="$K/kdc.conf" KRB5CCNAME="FILE:$K/ccache"
export KRB5RCACHEDIR="$W/rcache"

# --- The realms. clockskew is 5 s so that an expired ticket shows quickly.
cat >"$KRB5_CONFIG" <<CONF
[libdefaults]
    default_realm = TEST.LOCAL
    dns_lookup_realm = false
    dns_lookup_kdc = false
    rdns = false
    dns_canonicalize_hostname = false
    clockskew = 5
    udp_preference_limit = 1
[realms]
    TEST.LOCAL = {
        kdc = 127.0.0.1:$KDC_PORT
    }
    OTHER.TEST = {
        kdc = 127.0.0.1:$KDC_PORT
    }
[domain_realm]
    .sesame.test = TEST.LOCAL
    sesame.test = TEST.LOCAL
[capaths]
    OTHER.TEST = {
        TEST.LOCAL = .
    }
CONF
realm_conf() {
    cat <<CONF
    $1 = {
        database_name = $K/db-$1
        key_stash_file = $K/stash-$1
        acl_file = $K/kadm5.acl
        max_life = 10h 0m 0s
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }
CONF
}
{
    echo "[kdcdefaults]"
    echo "    kdc_listen = 127.0.0.1:$KDC_PORT"
    echo "    kdc_tcp_listen = 127.0.0.1:$KDC_PORT"
    echo "[realms]"
    realm_conf TEST.LOCAL
    realm_conf OTHER.TEST
    echo "[logging]"
    echo "    kdc = FILE:$K/kdc.log"
} >"$KRB5_KDC_PROFILE"
: >"$K/kadm5.acl"
kadmin() { kadmin.local -r "$1" -q "$2" >>"$K/kadmin.log" 2>&1; }
{
    kdb5_util create -s -r TEST.LOCAL -P masterpw >>"$K/kadmin.log" 2>&1 \
        && kdb5_util create -s -r OTHER.TEST -P masterpw2 >>"$K/kadmin.log" 2>&1 \
        && kadmin TEST.LOCAL "addprinc -pw alicepw alice" \
        && kadmin TEST.LOCAL "addprinc -pw alicepw2 Alice" \
        && kadmin TEST.LOCAL "addprinc -pw bobpw bob" \
        && kadmin OTHER.TEST "addprinc -pw carolpw carol" \
        && kadmin TEST.LOCAL "addprinc -pw trustpw krbtgt/TEST.LOCAL@OTHER.TEST" \
        && kadmin OTHER.TEST "addprinc -pw trustpw krbtgt/TEST.LOCAL@OTHER.TEST" \
        && for host in sso proxy stale other; do
            kadmin TEST.LOCAL "addprinc -randkey HTTP/$host.sesame.test" || exit 1
        done \
        && for host in sso proxy stale; do
            kadmin TEST.LOCAL "ktadd -k $K/http.keytab HTTP/$host.sesame.test" || exit 1
        done
} || { cat "$K/kadmin.log"; fail "the realms and the keytab are created"; finish; exit; }
krb5kdc -n -r TEST.LOCAL -r OTHER.TEST >"$K/krb5kdc.out" 2>&1 &
KDC_PID=$!
E2E_PIDS+=("$KDC_PID")
wait_port "$KDC_PORT" || { cat "$K/krb5kdc.out" "$K/kdc.log"; fail "krb5kdc starts"; finish; exit; }
pass "krb5kdc serves TEST.LOCAL and OTHER.TEST on loopback"
kinit_as() { # kinit_as PRINCIPAL PASSWORD [kinit options]: a fresh ticket cache
    local principal="$1" password="$2"
    shift 2
    kdestroy >/dev/null 2>&1
    echo "$password" | kinit "$@" "$principal" >"$K/kinit.log" 2>&1
}
kinit_as alice alicepw || { cat "$K/kinit.log"; fail "kinit alice"; finish; exit; }
pass "kinit alice"

# --- Sesame, with its keytab (sso, proxy and stale; "other" is not in it).
mkdir -p "$W/s"
cp "$E2E_ROOT/examples/demo-users.yml" "$W/s/users.yml"
cp "$K/http.keytab" "$W/s/http.keytab"
cat >"$W/s/config.yml" <<YAML
listen: {address: 127.0.0.1, port: $SESAME_PORT, tls: {enabled: false}}
data_dir: data
users_file: users.yml
enabled_backend_plugins: {xivo_user: true}
kerberos:
  keytab: http.keytab
  service_principals: [HTTP/sso.sesame.test@TEST.LOCAL, HTTP/proxy.sesame.test@TEST.LOCAL]
  allowed_realms: [TEST.LOCAL]
  lowercase: true
YAML
start_sesame S "$W/s/config.yml" "$SESAME_PORT" || { fail "Sesame starts"; finish; exit; }
S="http://sso.sesame.test:$SESAME_PORT"
SSO="$S/xuc/api/2.0/auth/sso"
c() { curl -s --resolve "sso.sesame.test:$SESAME_PORT:127.0.0.1" \
    --resolve "proxy.sesame.test:$SESAME_PORT:127.0.0.1" \
    --resolve "other.sesame.test:$SESAME_PORT:127.0.0.1" \
    --resolve "stale.sesame.test:$SESAME_PORT:127.0.0.1" "$@"; }
token_for() { "$SYS_PY" "$E2E_ROOT/e2e/clients/negotiate_token.py" "$@" 2>>"$K/token.err"; }
with_ticket() { # with_ticket TOKEN [URL]: status, and the body in $W/out.json
    c -o "$W/out.json" -w '%{http_code}' -H "Authorization: Negotiate $1" "${2:-$SSO}"
}
sso_error() { jq -r '"\(.error)"' "$W/out.json" 2>/dev/null; }
alice_uuid=63f3dc3c-865d-419e-bec2-e18c4b118224

# --- 1. curl --negotiate: a token with no password.
code=$(c -D "$W/headers" -o "$W/out.json" -w '%{http_code}' --negotiate -u : "$SSO")
T=$(jq -r .token "$W/out.json" 2>/dev/null)
expect "curl --negotiate gets a token for alice" "200 alice 36" \
    "$code $(jq -r .login "$W/out.json" 2>/dev/null) ${#T}"
expect "the answer has a TTL" "true" "$(jq '.TTL > 0' "$W/out.json" 2>/dev/null)"
expect "the mutual-authentication token comes back in WWW-Authenticate" 1 \
    "$(grep -ciE '^www-authenticate: negotiate [A-Za-z0-9+/=]{20,}' "$W/headers")"
expect "the token validates on /0.1/token/{t}" 204 "$(c -o /dev/null -w '%{http_code}' -I "$S/0.1/token/$T")"
expect "it is alice's, with the principal in its metadata" "$alice_uuid alice@TEST.LOCAL" \
    "$(c "$S/0.1/token/$T" | jq -r '"\(.data.xivo_user_uuid) \(.data.metadata.kerberos_principal)"')"
code=$(c -o "$W/out.json" -w '%{http_code}' --negotiate -u : "http://proxy.sesame.test:$SESAME_PORT/xuc/api/2.0/auth/sso")
expect "a ticket for the second service principal (the proxy's name) works too" "200 alice" \
    "$code $(jq -r .login "$W/out.json" 2>/dev/null)"

# --- 2. The /0.1 API: POST /0.1/token with backend kerberos.
code=$(c -o "$W/out.json" -w '%{http_code}' --negotiate -u : -X POST -H 'Content-Type: application/json' \
    -d '{"backend": "kerberos", "expiration": 600}' "$S/0.1/token")
T01=$(jq -r .data.token "$W/out.json" 2>/dev/null)
expect "POST /0.1/token with backend kerberos gets a token" "200 36 $alice_uuid" \
    "$code ${#T01} $(jq -r .data.xivo_user_uuid "$W/out.json" 2>/dev/null)"
expect "its expiration is the one asked" 204 "$(c -o /dev/null -w '%{http_code}' -I "$S/0.1/token/$T01")"
expect "/0.1/backends lists kerberos" true "$(c "$S/0.1/backends" | jq '.data | index("kerberos") != null')"
c -D "$W/headers" -o /dev/null -X POST -H 'Content-Type: application/json' -d '{"backend": "kerberos"}' "$S/0.1/token"
expect "without a ticket, /0.1/token answers 401 with a Negotiate challenge" 1 \
    "$(grep -c -i '^www-authenticate: negotiate' "$W/headers")"

# --- 3. Headless Chromium on a page that calls the SSO route: no password typed.
# The page, served inline by nginx (its workers may not read the work directory).
PAGE_HTML='<!doctype html><title>UC application</title><pre id="result">pending</pre><script>
fetch("/xuc/api/2.0/auth/sso").then(async (r) => {
  document.getElementById("result").textContent = JSON.stringify({status: r.status, body: await r.json()});
  document.body.dataset.done = "1";
});
</script>'
NGINX_PORT=$(free_port)
start_nginx "$NGINX_PORT" "
        location = /app/ { default_type text/html; return 200 '$PAGE_HTML'; }
        location /xuc/ { proxy_pass http://127.0.0.1:$SESAME_PORT; }" || fail "nginx starts"
browser() { # browser URL ALLOWLIST: what the page saw
    (cd "$NODE_DIR" && CHROMIUM="$(command -v chromium)" \
        EXTRA_ARGS="--host-resolver-rules=MAP *.sesame.test 127.0.0.1|--auth-server-allowlist=$2" \
        timeout 60 node kerberos_page.mjs "$1" "$(mktemp -d "$W/chromium.XXXXXX")" 2>>"$W/browser.err")
}
PAGE="http://sso.sesame.test:$NGINX_PORT/app/"
seen=$(browser "$PAGE" '*.sesame.test')
BT=$(jq -r .body.token <<<"$seen" 2>/dev/null)
expect "Chromium's page gets a token by SPNEGO, no password typed" "200 alice 36" \
    "$(jq -r .status <<<"$seen" 2>/dev/null) $(jq -r .body.login <<<"$seen" 2>/dev/null) ${#BT}"
expect "the browser's token validates" 204 "$(c -o /dev/null -w '%{http_code}' -I "$S/0.1/token/$BT")"
seen=$(browser "$PAGE" 'nothing.invalid')
expect "a host not in Chromium's allowlist gets no ticket: 401 SsoAuthenticationFailed" "401 SsoAuthenticationFailed" \
    "$(jq -r '"\(.status) \(.body.error)"' <<<"$seen" 2>/dev/null)"

# --- 4. Tickets Sesame refuses.
code=$(c -D "$W/headers" -o "$W/out.json" -w '%{http_code}' "$SSO")
expect "no Authorization header: 401 SsoAuthenticationFailed" "401 SsoAuthenticationFailed" "$code $(sso_error)"
expect "... with WWW-Authenticate: Negotiate" 1 "$(grep -c -i '^www-authenticate: negotiate' "$W/headers")"
expect "a garbage token: 401" "401 SsoAuthenticationFailed" "$(with_ticket Zm9vYmFyYmF6) $(sso_error)"
expect "a token that is not base64: 401" "401 SsoAuthenticationFailed" "$(with_ticket '%%%') $(sso_error)"
expect "an NTLM token: 401, NTLM named" "401 SsoAuthenticationFailed true" \
    "$(with_ticket TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==) $(sso_error) $(jq '.message | test("NTLM")' "$W/out.json")"
OTHER_T=$(token_for other.sesame.test)
expect "a ticket for a service whose key Sesame lacks (HTTP/other): 401" "401 SsoAuthenticationFailed" \
    "$(with_ticket "$OTHER_T") $(sso_error)"
STALE_T=$(token_for stale.sesame.test)
expect "a ticket for a service in the keytab but not configured (HTTP/stale): 401" "401 SsoAuthenticationFailed" \
    "$(with_ticket "$STALE_T") $(sso_error)"
RAW_T=$(token_for sso.sesame.test krb5)
expect "a bare Kerberos token (no SPNEGO wrapper) is accepted" "200 alice" \
    "$(with_ticket "$RAW_T") $(jq -r .login "$W/out.json")"
expect "the same token sent again is a replay: 401" "401 SsoAuthenticationFailed" \
    "$(with_ticket "$RAW_T") $(sso_error)"

kinit_as Alice alicepw2 && code=$(with_ticket "$(token_for sso.sesame.test)")
expect "principal Alice@TEST.LOCAL is lower-cased to the login alice" "200 alice" "$code $(jq -r .login "$W/out.json")"
kinit_as bob bobpw && code=$(with_ticket "$(token_for sso.sesame.test)")
expect "a valid ticket for bob, who has no local user: 404 UserNotFound" "404 UserNotFound" "$code $(sso_error)"
kinit_as carol@OTHER.TEST carolpw && CAROL_T=$(token_for sso.sesame.test)
expect "carol@OTHER.TEST gets a cross-realm ticket for Sesame" "true" "$([ -n "$CAROL_T" ] && echo true)"
expect "... which is refused: her realm is not allowed (401)" "401 SsoAuthenticationFailed true" \
    "$(with_ticket "$CAROL_T") $(sso_error) $(jq '.message | test("OTHER.TEST")' "$W/out.json")"

# An expired ticket: 6 s of life, used 12 s later (clockskew is 5 s).
kinit_as alice alicepw -l 6s && LATE_T=$(token_for sso.sesame.test)
sleep 12
expect "an expired ticket: 401" "401 SsoAuthenticationFailed" "$(with_ticket "$LATE_T") $(sso_error)"

# Encryption types: a Sesame that allows only aes128 refuses the aes256
# tickets this realm issues, naming the type.
mkdir -p "$W/aes128"
cp "$W/s/users.yml" "$W/s/http.keytab" "$W/aes128/"
AES_PORT=$(free_port)
sed "s/port: $SESAME_PORT/port: $AES_PORT/" "$W/s/config.yml" >"$W/aes128/config.yml"
echo '  allowed_enctypes: [aes128-cts-hmac-sha1-96]' >>"$W/aes128/config.yml"
start_sesame AES "$W/aes128/config.yml" "$AES_PORT" || fail "Sesame (aes128 only) starts"
kinit_as alice alicepw
code=$(c -o "$W/out.json" -w '%{http_code}' -H "Authorization: Negotiate $(token_for sso.sesame.test)" \
    "http://sso.sesame.test:$AES_PORT/xuc/api/2.0/auth/sso" --resolve "sso.sesame.test:$AES_PORT:127.0.0.1")
expect "an encryption type not allowed is refused, and named: 401" "401 SsoAuthenticationFailed true" \
    "$code $(sso_error) $(jq '.message | test("aes256-cts-hmac-sha1-96")' "$W/out.json")"

# --- 5. The KDC is not needed to accept tickets; the keytab is.
kinit_as alice alicepw
FRESH_T=$(token_for sso.sesame.test)
kill "$KDC_PID"; wait "$KDC_PID" 2>/dev/null
expect "with the KDC stopped, a ticket obtained before still trades" 200 "$(with_ticket "$FRESH_T")"
mv "$W/s/http.keytab" "$W/s/http.keytab.away"
code=$(with_ticket "$(token_for sso.sesame.test)")
expect "keytab gone: 503 BackendUnavailable, not a 401" "503 BackendUnavailable" "$code $(sso_error)"
mv "$W/s/http.keytab.away" "$W/s/http.keytab"
expect "keytab back: Sesame accepts tickets again" 200 "$(with_ticket "$(token_for sso.sesame.test)")"

# --- 6. Logs: principal, enctype and outcome; never the ticket.
LOG="$W/s/sesame-S.log"
expect "accepted logins are logged with principal and enctype" 1 \
    "$(grep -c 'Kerberos ticket accepted.*principal=alice@TEST.LOCAL.*aes256-cts-hmac-sha1-96' "$LOG" | sed 's/^[1-9][0-9]*$/1/')"
expect "refusals are logged with their reason" 1 \
    "$(grep -c 'Kerberos principal refused.*carol@OTHER.TEST.*OTHER.TEST is not allowed' "$LOG" | sed 's/^[1-9][0-9]*$/1/')"
expect "no ticket appears in the log" 0 "$(grep -c -F -e "${FRESH_T:0:40}" -e "${CAROL_T:0:40}" -e "${RAW_T:0:40}" "$LOG")"

# --- 7. A keytab that cannot be read stops the start-up, with a clear message.
mkdir -p "$W/bad"
cp "$W/s/users.yml" "$W/bad/"
sed -e "s/port: $SESAME_PORT/port: $(free_port)/" -e 's/keytab: http.keytab/keytab: missing.keytab/' \
    "$W/s/config.yml" >"$W/bad/config.yml"
timeout 20 "$SESAME_BIN" serve -c "$W/bad/config.yml" >"$W/bad/out.log" 2>&1
code=$?
expect "a missing keytab stops the start-up, naming it" "exit 1, names it" \
    "exit $code, $(grep -q 'missing.keytab' "$W/bad/out.log" && echo names it)"

finish
