#!/usr/bin/env bash
# e2e suite `ad`: Sesame against a real Active Directory, a Samba AD domain
# controller (AD.SESAME.TEST, NetBIOS ADSESAME) provisioned here in a
# temporary directory and bound to loopback: its self-made certificate
# (no subjectAltName) and the message that says so; LDAPS with a
# certificate the suite issues; two DCs, one of them stopped; the three
# login forms users type; a nested group mapped to a policy; Kerberos
# tickets from Samba's KDC whose principals are looked up in the directory
# (a user whose mail and UPN are in another domain than the realm, and an
# enterprise principal).
#
# The second DC is a second address of the same DC: a TCP relay on
# 127.0.0.2:636 to the DC's 127.0.0.1:636, listed first in ldap.uri and
# stopped to show the failover. A real second DC (`samba-tool domain join`)
# needs DNS and replication and takes longer than this whole suite.
#
# Samba binds the standard ports 88, 389 and 636 on 127.0.0.1 (it has no
# setting for other ports): nothing else may hold them while it runs.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
e2e_setup ad
W="$E2E_WORK"
A="$W/samba"
mkdir -p "$A/run"
SYS_PY=/usr/bin/python3
PATH="$PATH:/usr/sbin"
for tool in samba samba-tool kinit klist openssl ldapsearch; do
    command -v "$tool" >/dev/null || { fail "$tool is installed"; finish; exit; }
done
"$SYS_PY" -c 'import samba.samdb, gssapi' 2>/dev/null ||
    { fail "Samba's and GSSAPI's Python bindings load in $SYS_PY"; finish; exit; }
for port in 53 88 389 636; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        fail "port $port on 127.0.0.1 is free for the DC"; finish; exit
    fi
done

REALM=AD.SESAME.TEST
DOMAIN_DN="DC=ad,DC=sesame,DC=test"
USERS_DN="CN=Users,$DOMAIN_DN"
SVC_PW='Svc-Passw0rd-e2e!'
USER_PW='User-Passw0rd-e2e!'
# Samba's tools read Debian's paths unless told; every directory it writes
# goes under $A.
samba_tool() { "$SYS_PY" /usr/bin/samba-tool "$@"; }

# --- The domain: provisioned, trimmed to LDAP and the KDC, then filled in
# one transaction (e2e/ad/populate.py).
START=$(date +%s)
samba_tool domain provision --targetdir="$A" --realm="$REALM" --domain=ADSESAME \
    --server-role=dc --dns-backend=SAMBA_INTERNAL --use-rfc2307 --host-name=dc1 \
    --host-ip=127.0.0.1 --adminpass='Adm1n-Passw0rd-e2e!' \
    --option="interfaces = lo" --option="bind interfaces only = yes" \
    --option="dns update command = /bin/true" --option="spn update command = /bin/true" \
    --option="pid directory = $A/run" --option="ncalrpc dir = $A/run/ncalrpc" \
    --option="winbindd socket directory = $A/run/winbindd" \
    --option="ntp signd socket directory = $A/run/ntp_signd" \
    --option="log file = $A/log.%m" >"$A/provision.log" 2>&1 ||
    { tail -20 "$A/provision.log"; fail "samba-tool provisions the domain"; finish; exit; }
SMB_CONF="$A/etc/smb.conf"
# Only what Sesame talks to (LDAP, Kerberos, and DNS for the SRV records of
# the domain's DCs), one worker each. Names outside the domain are never
# asked; were they, the forwarder is a loopback address nobody serves.
sed -i 's/^\tserver services = .*/\tserver services = ldap, kdc, dns/; s/^\tdns forwarder = .*/\tdns forwarder = 127.0.0.9/' "$SMB_CONF"
sed -i '/^\[global\]/a\	prefork children = 1' "$SMB_CONF"
"$SYS_PY" "$E2E_ROOT/e2e/ad/populate.py" "$A/private/sam.ldb" "$SMB_CONF" "$SVC_PW" "$USER_PW" \
    sso.sesame.test >"$A/populate.log" 2>&1 ||
    { cat "$A/populate.log"; fail "the domain is populated"; finish; exit; }
pass "Samba provisions and populates $REALM in $(($(date +%s) - START)) s"

SAMBA_PID=""
start_samba() {
    samba -s "$SMB_CONF" -i >>"$A/samba.out" 2>&1 &
    SAMBA_PID=$!
    E2E_PIDS+=("$SAMBA_PID")
    wait_port 636 60 && wait_port 88 20
}
stop_samba() {
    # Samba's children follow their parent out; wait until the ports are free.
    kill -TERM "$SAMBA_PID" 2>/dev/null
    wait "$SAMBA_PID" 2>/dev/null
    local i
    for i in $(seq 100); do
        (exec 3<>/dev/tcp/127.0.0.1/636) 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

# --- Samba's own certificate: made at its first start, without any
# subjectAltName. Sesame refuses it, and says why in words an operator can
# act on, at start-up, in /readyz and on the login's 503.
start_samba || { tail -20 "$A/samba.out"; fail "samba starts"; finish; exit; }
[ -s "$A/private/tls/ca.pem" ] || sleep 1
pass "samba serves LDAP, LDAPS and Kerberos on 127.0.0.1"

hash() { printf '%s\n' "$1" | "$SESAME_BIN" hash-password; }
LOCAL_HASH=$(hash local-only-pw)
cat >"$W/users.yml" <<YAML
users:
  - login: alice
    uuid: 7a1c0000-0000-4000-8000-00000000a11c
    email: alice@ad.sesame.test
    profile: default
    cti_login_enabled: true
    password_hash: "$LOCAL_HASH"
  - login: erin
    uuid: 7a1c0000-0000-4000-8000-0000000e0e11
    email: erin@example.test
    profile: default
    cti_login_enabled: true
    password_hash: "$LOCAL_HASH"
  - login: bob
    uuid: 7a1c0000-0000-4000-8000-000000000b0b
    email: bob@ad.sesame.test
    profile: default
    cti_login_enabled: true
    password_hash: "$LOCAL_HASH"
YAML
ALICE=7a1c0000-0000-4000-8000-00000000a11c
ERIN=7a1c0000-0000-4000-8000-0000000e0e11

# sesame_with NAME LDAP_URIS CA_FILE [EXTRA_LDAP] [MORE_YAML]: a Sesame whose
# ldap section is the domain's (LDAP_URIS empty: no uri); its port in NAME_PORT.
sesame_with() {
    local name="$1" uris="$2" ca="$3" extra="${4:-}" more="${5:-}" port
    port=$(free_port)
    mkdir -p "$W/$name"
    cat >"$W/$name/config.yml" <<YAML
listen: {address: 127.0.0.1, port: $port, tls: {enabled: false}}
data_dir: data
users_file: ../users.yml
enabled_backend_plugins: {xivo_user: true, ldap_user: true}
backend_policies: {xivo_user: uc_user, ldap_user: uc_user}
policies:
  uc_user: ["confd.users.me.read"]
  uc_admins: ["confd.#", "calld.#"]
  sales: ["sales.#"]
uc_api: {login_backends: [xivo_user, ldap_user]}
# This suite fails logins from 127.0.0.1 on purpose.
throttle: {max_failures_per_address: 200}
ldap:
  ${uris:+uri: $uris}
  ca_file: $ca
  bind_dn: CN=svc-sesame,$USERS_DN
  bind_password: "$SVC_PW"
  # The domain's root: AD answers with referrals too, which are skipped.
  user_base_dn: $DOMAIN_DN
  user_login_attribute: sAMAccountName
  user_email_attribute: mail
  failover_backoff_ms: 30000
  operation_timeout_ms: 3000
$extra
$more
YAML
    start_sesame "$name" "$W/$name/config.yml" "$port" || return 1
    printf -v "${name}_PORT" '%s' "$port"
}
login() { token_login "$1" ldap_user "$2" "$3"; }
acl_of() { # acl_of: the policy ACLs of interest in the last answer, sorted
    jq -c '[.data.acl[] | select(. == "confd.#" or . == "calld.#" or . == "sales.#")] | sort' "$W/out.json"
}

sesame_with NOSAN "ldaps://127.0.0.1" "$A/private/tls/ca.pem" "  tls_server_name: dc1.ad.sesame.test" ||
    fail "Sesame starts against a DC whose certificate has no subjectAltName"
expect "Samba's own certificate: the login is 503, not 401" 503 "$(login "$NOSAN_PORT" alice "$USER_PW")"
STATE=$(curl -s "http://127.0.0.1:$NOSAN_PORT/readyz" | jq -r .upstreams.ldap)
if grep -q 'has no subjectAltName for dc1.ad.sesame.test' <<<"$STATE" && grep -q 'tls_server_name' <<<"$STATE"; then
    pass "/readyz: the certificate has no subjectAltName for dc1.ad.sesame.test, and what to do"
else
    fail "/readyz on Samba's own certificate: $STATE"
fi
if grep 'has no subjectAltName for dc1.ad.sesame.test' "$W/NOSAN/sesame-NOSAN.log" | grep -q 'issue it with'; then
    pass "the start-up log says the same, uncut"
else
    fail "the start-up log on Samba's own certificate: $(grep -i subjectaltname "$W/NOSAN/sesame-NOSAN.log" | head -2)"
fi
stop_pid "$NOSAN_PID" >/dev/null 2>&1

# --- The DC's certificate, issued by a CA the suite makes, with the DC's
# names and both addresses in its subjectAltName; samba restarted on it.
C="$W/ca"
mkdir -p "$C"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=AD e2e CA" \
    -keyout "$C/ca.key" -out "$C/ca.pem" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=dc1.ad.sesame.test" \
    -keyout "$C/dc.key" -out "$C/dc.csr" >/dev/null 2>&1
printf 'subjectAltName=DNS:dc1.ad.sesame.test,DNS:ad.sesame.test,IP:127.0.0.1,IP:127.0.0.2\nextendedKeyUsage=serverAuth\n' >"$C/san.ext"
openssl x509 -req -in "$C/dc.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -CAcreateserial \
    -days 2 -extfile "$C/san.ext" -out "$C/dc.pem" >/dev/null 2>&1
chmod 600 "$C/dc.key"
[ -s "$C/dc.pem" ] || { fail "openssl issues the DC's certificate"; finish; exit; }
stop_samba || { fail "samba stops"; finish; exit; }
sed -i "/^\[global\]/a\\	tls enabled = yes\n\ttls keyfile = $C/dc.key\n\ttls certfile = $C/dc.pem\n\ttls cafile = $C/ca.pem" "$SMB_CONF"
start_samba || { tail -20 "$A/samba.out"; fail "samba restarts with the suite's certificate"; finish; exit; }
if openssl s_client -connect 127.0.0.1:636 -CAfile "$C/ca.pem" </dev/null 2>/dev/null | grep -q 'Verify return code: 0'; then
    pass "the DC serves the suite's certificate on LDAPS"
else
    fail "the DC serves the suite's certificate on LDAPS"
fi

# --- The second "DC": a relay on 127.0.0.2:636 to the DC.
RELAY_PID=""
start_relay() {
    python3 - <<'PY' >>"$W/relay.log" 2>&1 &
import asyncio

async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()

async def client(reader, writer):
    try:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", 636)
    except OSError:
        writer.close()
        return
    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

async def main():
    server = await asyncio.start_server(client, "127.0.0.2", 636)
    async with server:
        await server.serve_forever()

asyncio.run(main())
PY
    RELAY_PID=$!
    E2E_PIDS+=("$RELAY_PID")
    local i
    for i in $(seq 100); do
        (exec 3<>/dev/tcp/127.0.0.2/636) 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}
start_relay || { fail "the relay on 127.0.0.2:636 starts"; finish; exit; }

# --- Kerberos: the realm's KDC is Samba's; the HTTP SPN's keytab exported
# from the service account (AES only, populate.py).
K="$W/krb5"
mkdir -p "$K/rcache"
export KRB5_CONFIG="$K/krb5.conf" KRB5CCNAME="FILE:$K/ccache" KRB5RCACHEDIR="$K/rcache"
cat >"$KRB5_CONFIG" <<CONF
[libdefaults]
    default_realm = $REALM
    dns_lookup_realm = false
    dns_lookup_kdc = false
    rdns = false
    dns_canonicalize_hostname = false
    udp_preference_limit = 1
[realms]
    $REALM = {
        kdc = 127.0.0.1:88
    }
[domain_realm]
    .sesame.test = $REALM
    sesame.test = $REALM
CONF
samba_tool domain exportkeytab "$K/http.keytab" --principal=HTTP/sso.sesame.test -s "$SMB_CONF" \
    >"$K/export.log" 2>&1 || { cat "$K/export.log"; fail "the SPN's keytab is exported"; finish; exit; }
expect "the exported keytab is AES only (the account's msDS-SupportedEncryptionTypes)" \
    "aes128-cts-hmac-sha1-96 aes256-cts-hmac-sha1-96" \
    "$(klist -k -e "$K/http.keytab" | sed -n 's/.*(\(.*\)).*/\1/p' | sort -u | xargs)"

KERBEROS="kerberos:
  keytab: $K/http.keytab
  service_principals: [HTTP/sso.sesame.test@$REALM]
  allowed_realms: [$REALM]
  directory_lookup: true"
sesame_with AD "[\"ldaps://127.0.0.2:636\", \"ldaps://127.0.0.1:636\"]" "$C/ca.pem" "  user_login_forms:
    domains: [ADSESAME]
    upn_suffixes: [ad.sesame.test, example.test]
  group_membership: nested
  group_base_dn: $USERS_DN
  group_policies:
    \"CN=UC admins,$USERS_DN\": uc_admins
    Sales: sales" "$KERBEROS" || { fail "Sesame starts against the domain"; finish; exit; }
P=$AD_PORT
READY=$(curl -s "http://127.0.0.1:$P/readyz")
expect "/readyz: both DCs ok" "ok ok" \
    "$(jq -r '.upstreams["ldap.127.0.0.2:636"] + " " + .upstreams["ldap.127.0.0.1:636"]' <<<"$READY")"

# --- The three login forms; the token is the local user with the entry's mail.
expect "sAMAccountName: 200" "200 $ALICE" "$(login "$P" alice "$USER_PW") $(jq -r .data.xivo_user_uuid "$W/out.json")"
expect "ADSESAME\\alice: 200, the same user" "200 $ALICE" \
    "$(login "$P" 'ADSESAME\alice' "$USER_PW") $(jq -r .data.xivo_user_uuid "$W/out.json")"
expect "alice@ad.sesame.test (her UPN): 200, the same user" "200 $ALICE" \
    "$(login "$P" alice@ad.sesame.test "$USER_PW") $(jq -r .data.xivo_user_uuid "$W/out.json")"
expect "erin@example.test (a UPN in another suffix than the realm): 200" "200 $ERIN" \
    "$(login "$P" erin@example.test "$USER_PW") $(jq -r .data.xivo_user_uuid "$W/out.json")"
expect "the UC login takes ADSESAME\\erin too" 200 "$(uc_login "$P" 'ADSESAME\erin' "$USER_PW")"
expect "another domain (OTHER\\alice): 401" 401 "$(login "$P" 'OTHER\alice' "$USER_PW")"
expect "a UPN suffix not listed: 401" 401 "$(login "$P" alice@elsewhere.test "$USER_PW")"
expect "a wrong password: 401" 401 "$(login "$P" 'ADSESAME\alice' wrong-Passw0rd)"
expect "the local password is not the directory's: 401" 401 "$(login "$P" erin@example.test local-only-pw)"

# --- Nested groups: alice and erin are in "UC admins" through "IT staff";
# bob is in Sales only.
login "$P" alice "$USER_PW" >/dev/null
expect "alice, in UC admins through IT staff: its policy's ACLs" '["calld.#","confd.#"]' "$(acl_of)"
T_ALICE=$(token_of)
expect "  and the token grants them" 204 \
    "$(curl -s -o /dev/null -w '%{http_code}' -I "http://127.0.0.1:$P/0.1/token/$T_ALICE?scope=confd.users.read")"
login "$P" bob "$USER_PW" >/dev/null
expect "bob, in Sales only (matched by name): its policy's ACLs" '["sales.#"]' "$(acl_of)"
T_BOB=$(token_of)
expect "  and not UC admins'" 403 \
    "$(curl -s -o /dev/null -w '%{http_code}' -I "http://127.0.0.1:$P/0.1/token/$T_BOB?scope=confd.users.read")"

# The same groups read from memberOf alone: direct groups only, so alice's
# membership of UC admins through IT staff is not seen.
sesame_with DIRECT "ldaps://127.0.0.1:636" "$C/ca.pem" "  group_membership: member_of
  group_policies:
    \"CN=UC admins,$USERS_DN\": uc_admins
    \"IT staff\": sales" || fail "Sesame starts with group policies from memberOf"
login "$DIRECT_PORT" alice "$USER_PW" >/dev/null
expect "memberOf (direct groups): alice gets IT staff's policy, not UC admins'" '["sales.#"]' "$(acl_of)"
stop_pid "$DIRECT_PID" >/dev/null 2>&1

# --- Kerberos with the directory: the ticket's principal is found in AD and
# mapped by the entry's mail, with its groups' policies.
c() { curl -s --resolve "sso.sesame.test:$P:127.0.0.1" "$@"; }
SSO="http://sso.sesame.test:$P/xuc/api/2.0/auth/sso"
kinit_as() { # kinit_as KINIT_ARGS...: a fresh ticket cache, with $KINIT_PW
    kdestroy >/dev/null 2>&1
    printf '%s\n' "${KINIT_PW:-$USER_PW}" | kinit "$@" >"$K/kinit.log" 2>&1
}
sso_as() { # sso_as KINIT_ARGS...: "status uuid" of an SSO login with that ticket
    kinit_as "$@" || { cat "$K/kinit.log" >&2; echo "kinit failed"; return; }
    local neg code
    neg=$("$SYS_PY" "$E2E_ROOT/e2e/clients/negotiate_token.py" sso.sesame.test 2>>"$K/token.err")
    code=$(c -o "$W/sso.json" -w '%{http_code}' -H "Authorization: Negotiate $neg" "$SSO")
    local token
    token=$(jq -r '.token // empty' "$W/sso.json" 2>/dev/null)
    echo "$token" >"$W/sso.token"
    echo "$code $(c "http://sso.sesame.test:$P/0.1/token/$token" | jq -r '.data.xivo_user_uuid // empty' 2>/dev/null)"
}
expect "erin@$REALM (mail and UPN erin@example.test): 200, the local erin" "200 $ERIN" "$(sso_as erin)"
expect "  the service ticket is AES" 1 \
    "$(klist -e | grep -A1 'HTTP/sso.sesame.test' | grep -c 'aes256-cts-hmac-sha1-96, aes256-cts-hmac-sha1-96')"
expect "  with UC admins' ACLs through the nested group" 204 \
    "$(c -o /dev/null -w '%{http_code}' -I "http://sso.sesame.test:$P/0.1/token/$(cat "$W/sso.token")?scope=calld.calls.read")"
expect "the enterprise principal erin@example.test (kinit -E): 200, the local erin" "200 $ERIN" \
    "$(sso_as -E erin@example.test)"
expect "  GSSAPI named it erin\\@example.test@$REALM" "erin\\@example.test@$REALM" \
    "$(klist | sed -n 's/^Default principal: //p')"
expect "alice@$REALM: 200, the local alice" "200 $ALICE" "$(sso_as alice)"
expect "Administrator (in AD, without mail or local user): 404" "404 " \
    "$(KINIT_PW='Adm1n-Passw0rd-e2e!' sso_as Administrator)"

# --- One DC stops: logins and SSO go to the other, /readyz says which.
stop_pid "$RELAY_PID" >/dev/null 2>&1
expect "the first DC down: ADSESAME\\alice logs in through the second" 200 "$(login "$P" 'ADSESAME\alice' "$USER_PW")"
expect "  erin's SSO still finds her entry" "200 $ERIN" "$(sso_as erin)"
# /readyz keeps its results 5 s.
for _ in $(seq 40); do
    STATES=$(curl -s "http://127.0.0.1:$P/readyz" |
        jq -r '(.upstreams["ldap.127.0.0.2:636"] | split(":")[0]) + " " + .upstreams["ldap.127.0.0.1:636"]')
    [ "$STATES" = "unreachable ok" ] && break
    sleep 0.25
done
expect "/readyz: the stopped DC unreachable, the other ok" "unreachable ok" "$STATES"
METRICS=$(curl -s "http://127.0.0.1:$P/metrics")
expect "/metrics: each DC's state" "0 1" \
    "$(grep -F 'sesame_ldap_server_up{server="127.0.0.2:636"}' <<<"$METRICS" | cut -d' ' -f2) $(grep -F 'sesame_ldap_server_up{server="127.0.0.1:636"}' <<<"$METRICS" | cut -d' ' -f2)"
expect "/metrics: the failed connections to the stopped DC are counted" true \
    "$(grep -F 'sesame_ldap_server_connections_total{server="127.0.0.2:636",outcome="failed"}' <<<"$METRICS" | awk '{print ($2 >= 1)}' | sed 's/1/true/')"
expect "  the unreachable DC is logged once" 1 "$(grep -c 'LDAP server unreachable' "$W/AD/sesame-AD.log")"

# --- The DCs found in DNS: the domain's _ldap._tcp SRV records (Samba's
# DNS serves them, dc1.ad.sesame.test on 127.0.0.1), no uri at all. The DC
# is dialled by the address DNS gives and its certificate checked for
# dc1.ad.sesame.test.
sesame_with SRV "" "$C/ca.pem" "  srv_domain: ad.sesame.test
  srv_nameservers: [\"127.0.0.1:53\"]" || fail "Sesame starts with srv_domain"
expect "srv_domain: alice logs in through the DC that DNS names" "200 $ALICE" \
    "$(login "$SRV_PORT" alice "$USER_PW") $(jq -r .data.xivo_user_uuid "$W/out.json")"
expect "  the discovered DC is logged with its name" 1 \
    "$(grep 'LDAP servers discovered' "$W/SRV/sesame-SRV.log" | grep -c 'dc1.ad.sesame.test:389')"
expect "  /readyz: the discovered DCs ok" ok "$(curl -s "http://127.0.0.1:$SRV_PORT/readyz" | jq -r '.upstreams["ldap.srv"]')"
expect "  /metrics: the DC by its name" 1 \
    "$(curl -s "http://127.0.0.1:$SRV_PORT/metrics" | grep -F 'sesame_ldap_server_up{server="dc1.ad.sesame.test:636"}' | cut -d' ' -f2)"
stop_pid "$SRV_PID" >/dev/null 2>&1
sesame_with NOSRV "" "$C/ca.pem" "  srv_domain: nowhere.sesame.test
  srv_nameservers: [\"127.0.0.1:53\"]" || fail "Sesame starts with a srv_domain DNS does not know"
expect "a srv_domain without records: 503, not 401" 503 "$(login "$NOSRV_PORT" alice "$USER_PW")"
STATE=$(curl -s "http://127.0.0.1:$NOSRV_PORT/readyz" | jq -r '.upstreams["ldap.srv"]')
grep -q '_ldap._tcp.nowhere.sesame.test' <<<"$STATE" &&
    pass "  /readyz names the lookup that failed" || fail "  /readyz on a srv_domain without records: $STATE"
stop_pid "$NOSRV_PID" >/dev/null 2>&1

# --- The throttle counts the account, whatever form was typed: bob's five
# failures over three forms lock his bare login.
for form in bob 'ADSESAME\bob' bob@ad.sesame.test 'ADSESAME\bob' bob@ad.sesame.test; do
    login "$P" "$form" wrong-Passw0rd >/dev/null
done
expect "5 failures spread over the forms lock bob's bare login" 429 "$(login "$P" bob "$USER_PW")"

# --- Both DCs down: 503, never a 401 that blames the user; then back.
stop_samba || fail "samba stops"
expect "every DC down: 503" 503 "$(login "$P" alice "$USER_PW")"
expect "  the UC login says BackendUnavailable" "503 BackendUnavailable" \
    "$(uc_login "$P" alice "$USER_PW") $(jq -r .error "$W/out.json")"
start_samba || fail "samba starts again"
expect "the DC back: alice logs in, no restart of Sesame" 200 "$(login "$P" alice "$USER_PW")"

if grep -h -e "$USER_PW" -e "$SVC_PW" "$W"/*/sesame-*.log >/dev/null; then
    fail "a log holds a password"
else
    pass "no log holds a password"
fi
finish
