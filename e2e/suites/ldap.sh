#!/usr/bin/env bash
# e2e suite `ldap`: the ldap_user backend against a throwaway OpenLDAP slapd
# on loopback (plain, StartTLS and LDAPS with a CA made here), through both
# HTTP APIs: search as a service account, anonymous search, no-search mode,
# wrong passwords, unknown and ambiguous users, e-mail matching to local
# users, logins full of special characters, a directory that stops and comes
# back, and one that accepts connections and never answers; an entry whose
# e-mail only XiVO's database (PostgreSQL) has.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
e2e_setup ldap
W="$E2E_WORK"
L="$W/slapd"
mkdir -p "$L/db"
BASE_DN="dc=test,dc=local"
PEOPLE="ou=people,$BASE_DN"

# --- A CA and a certificate for 127.0.0.1 / localhost.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Sesame e2e CA" \
    -keyout "$L/ca.key" -out "$L/ca.pem" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$L/server.key" -out "$L/server.csr" >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$L/san.ext"
openssl x509 -req -in "$L/server.csr" -CA "$L/ca.pem" -CAkey "$L/ca.key" -CAcreateserial \
    -days 2 -extfile "$L/san.ext" -out "$L/server.pem" >/dev/null 2>&1
# A second CA that signed nothing here: trusting it must fail.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Other CA" \
    -keyout "$L/other.key" -out "$L/other-ca.pem" >/dev/null 2>&1
[ -s "$L/server.pem" ] || { fail "openssl made the test certificates"; finish; exit; }

# --- slapd: its own config, data and ports.
SLAPD_PORT=$(free_port)
SLAPDS_PORT=$(free_port)
cat >"$L/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile $L/slapd.pid
argsfile $L/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
TLSCACertificateFile $L/ca.pem
TLSCertificateFile $L/server.pem
TLSCertificateKeyFile $L/server.key
database mdb
maxsize 104857600
suffix "$BASE_DN"
rootdn "cn=admin,$BASE_DN"
rootpw $(slappasswd -s adminpw)
directory $L/db
index objectClass eq
index uid eq
overlay memberof
access to attrs=userPassword
    by self write
    by anonymous auth
    by * none
access to *
    by * read
CONF
slaptest -u -f "$L/slapd.conf" >"$L/slaptest.log" 2>&1 || { cat "$L/slaptest.log"; fail "slapd.conf is valid"; finish; exit; }

SLAPD_PID=""
start_slapd() {
    slapd -d 0 -f "$L/slapd.conf" -h "ldap://127.0.0.1:$SLAPD_PORT/ ldaps://127.0.0.1:$SLAPDS_PORT/" >>"$L/slapd.log" 2>&1 &
    SLAPD_PID=$!
    E2E_PIDS+=("$SLAPD_PID")
    wait_port "$SLAPD_PORT" && wait_port "$SLAPDS_PORT"
}
start_slapd || { cat "$L/slapd.log"; fail "slapd starts"; finish; exit; }
pass "slapd starts on loopback (ldap:// and ldaps://)"

# --- Entries. DNs with special characters go base64-encoded in LDIF.
SPECIAL='jo,doe+x=y\z*(1)é'
python3 - "$L/base.ldif" "$SPECIAL" "$(slappasswd -s ldap-alice-pw)" "$(slappasswd -s svcpw)" \
    "$(slappasswd -s special-pw)" "$(slappasswd -s other-pw)" <<'PY'
import base64, sys
out, special, alice_pw, svc_pw, special_pw, other_pw = sys.argv[1:]
base = "dc=test,dc=local"
people = "ou=people," + base

def dn_value(v):
    # RFC 4514 escaping of an attribute value.
    s = "".join("\\" + c if c in ',+"\\<>;=' else c for c in v)
    return s

def entry(dn, attrs):
    lines = []
    if all(32 <= ord(c) < 127 for c in dn):
        lines.append("dn: " + dn)
    else:
        lines.append("dn:: " + base64.b64encode(dn.encode()).decode())
    for k, v in attrs:
        if all(32 <= ord(c) < 127 for c in v) and not v.startswith((" ", ":", "<")):
            lines.append(f"{k}: {v}")
        else:
            lines.append(f"{k}:: " + base64.b64encode(v.encode()).decode())
    return "\n".join(lines) + "\n"

def person(uid, mail, pw, parent=people):
    attrs = [("objectClass", "inetOrgPerson"), ("uid", uid), ("cn", uid), ("sn", uid), ("userPassword", pw)]
    if mail:
        attrs.append(("mail", mail))
    return entry(f"uid={dn_value(uid)},{parent}", attrs)

blocks = [
    entry(base, [("objectClass", "dcObject"), ("objectClass", "organization"), ("o", "Test"), ("dc", "test")]),
    entry(people, [("objectClass", "organizationalUnit"), ("ou", "people")]),
    entry("ou=staff," + people, [("objectClass", "organizationalUnit"), ("ou", "staff")]),
    entry("cn=sesame," + base, [("objectClass", "organizationalRole"), ("objectClass", "simpleSecurityObject"), ("cn", "sesame"), ("userPassword", svc_pw)]),
    person("alice", "Alice@Example.ORG", alice_pw),
    person("bob", "bob@example.org", other_pw),
    person("twin", "twin@example.org", other_pw),
    person("twin", "twin@example.org", other_pw, "ou=staff," + people),
    person("carol", "shared@example.org", other_pw),
    person("dave", "dave@example.org", other_pw),
    person(special, "special@example.org", special_pw),
]
open(out, "w").write("\n".join(blocks))
PY
if ldapadd -x -H "ldap://127.0.0.1:$SLAPD_PORT" -D "cn=admin,$BASE_DN" -w adminpw -f "$L/base.ldif" >"$L/ldapadd.log" 2>&1; then
    pass "the directory is loaded (11 entries)"
else
    cat "$L/ldapadd.log"; fail "the directory is loaded"; finish; exit
fi

# --- Local users: alice (demo), the special user, two users sharing one
# e-mail, a disabled one, and twin (whose login matches two entries).
hash() { printf '%s\n' "$1" | "$SESAME_BIN" hash-password; }
LOCAL_PW_HASH=$(hash local-only-pw)
cp "$E2E_ROOT/examples/demo-users.yml" "$W/users.yml"
python3 - "$W/users.yml" "$LOCAL_PW_HASH" <<'PY'
import sys
path, h = sys.argv[1:]
extra = [
    ("special", "5b0c5a8e-1111-4c1e-9d0a-000000000001", "Special@example.org", True),
    ("carol1", "5b0c5a8e-1111-4c1e-9d0a-000000000002", "shared@example.org", True),
    ("carol2", "5b0c5a8e-1111-4c1e-9d0a-000000000003", "shared@example.org", True),
    ("dave", "5b0c5a8e-1111-4c1e-9d0a-000000000004", "dave@example.org", False),
    ("twin", "5b0c5a8e-1111-4c1e-9d0a-000000000005", "twin@example.org", True),
]
text = open(path).read()
block = "".join(
    f"  - login: {login}\n    uuid: {uuid}\n    email: {email}\n    profile: default\n"
    f"    cti_login_enabled: {'true' if on else 'false'}\n    password_hash: \"{h}\"\n"
    for login, uuid, email, on in extra
)
text = text.replace("admins:\n", block + "admins:\n", 1)
open(path, "w").write(text)
PY

# sesame_with NAME LDAP_YAML [EXTRA_YAML]: a Sesame with that `ldap` section.
sesame_with() {
    local name="$1" ldap="$2" extra="${3:-}" port
    port=$(free_port)
    mkdir -p "$W/$name"
    cat >"$W/$name/config.yml" <<YAML
listen: {address: 127.0.0.1, port: $port, tls: {enabled: false}}
data_dir: data
users_file: ../users.yml
enabled_backend_plugins: {xivo_user: true, ldap_user: true}
backend_policies: {xivo_user: uc_user, ldap_user: uc_user}
policies:
  uc_user: ["confd.users.me.read", "ctid-ng.#"]
  ldap_admins: ["admin.#"]
  phones: ["calld.#"]
uc_api:
  login_backends: [xivo_user, ldap_user]
# This suite fails many logins from 127.0.0.1 on purpose.
throttle: {max_failures_per_address: 200}
ldap:
$ldap
$extra
YAML
    start_sesame "$name" "$W/$name/config.yml" "$port" || return 1
    printf -v "${name}_PORT" '%s' "$port"
}

# login01 PORT LOGIN PASSWORD: POST /0.1/token with ldap_user; the body in $W/out.json.
login01() { token_login "$1" ldap_user "$2" "$3"; }
# login_uc PORT LOGIN PASSWORD: the UC login (lib.sh); the body in $W/out.json.
login_uc() { uc_login "$@"; }

SEARCH_LDAP="  uri: ldap://127.0.0.1:$SLAPD_PORT
  bind_dn: cn=sesame,$BASE_DN
  bind_password: svcpw
  user_base_dn: $PEOPLE
  user_login_attribute: uid
  user_email_attribute: mail
  operation_timeout_ms: 2000"
sesame_with SEARCH "$SEARCH_LDAP" || { fail "Sesame starts with the LDAP backend"; finish; exit; }
P=$SEARCH_PORT

# --- Search mode (seed 000, steps 1-6).
expect "search mode: alice logs in with her directory password" 200 "$(login01 "$P" alice ldap-alice-pw)"
expect "the token is the local alice's (e-mail matched, case ignored)" \
    "63f3dc3c-865d-419e-bec2-e18c4b118224" "$(jq -r .data.xivo_user_uuid "$W/out.json")"
T=$(jq -r .data.token "$W/out.json")
expect "the token carries the backend policy's ACLs" 204 \
    "$(curl -s -o /dev/null -w '%{http_code}' -I "http://127.0.0.1:$P/0.1/token/$T?scope=ctid-ng.calls.read")"
expect "wrong password: 401" 401 "$(login01 "$P" alice wrong-pw)"
expect "the local password is not the directory's: 401" 401 "$(login01 "$P" alice s3cre7)"
expect "unknown user: 401" 401 "$(login01 "$P" nobody ldap-alice-pw)"
expect "two entries match the login: 401" 401 "$(login01 "$P" twin other-pw)"
expect "no local user has the entry's e-mail: 401" 401 "$(login01 "$P" bob other-pw)"
expect "two local users share the entry's e-mail: 401" 401 "$(login01 "$P" carol other-pw)"
expect "the matching local user is disabled: 401" 401 "$(login01 "$P" dave other-pw)"
expect "empty password: 401 (never an anonymous bind)" 401 "$(login01 "$P" alice '')"

# --- The UC login tries xivo_user, then ldap_user.
expect "UC login with the directory password" 200 "$(login_uc "$P" alice ldap-alice-pw)"
expect "UC login answers the local login" "alice" "$(jq -r .login "$W/out.json")"
expect "UC login with the local password still works" 200 "$(login_uc "$P" alice s3cre7)"
expect "UC login, wrong password: 401" 401 "$(login_uc "$P" alice nope)"

# --- Logins with special characters.
expect "a login with , + = \\ * ( ) and é logs in (search mode)" 200 "$(login_uc "$P" "$SPECIAL" special-pw)"
# Unescaped, 'a*' and 'al*e' would match alice's entry alone, and her password would work.
for login in '*' 'a*' 'al*e' 'alice)(uid=*' '*)(|(uid=*' 'alice\' "alice$(printf '\x01')"; do
    expect "login $(printf '%q' "$login") does not widen the search: 401" 401 "$(login_uc "$P" "$login" ldap-alice-pw)"
done
expect "a login with NUL is refused cleanly: 401" 401 \
    "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        "http://127.0.0.1:$P/xuc/api/2.0/auth/login" -d '{"login": "alice\u0000", "password": "ldap-alice-pw"}')"

# --- Anonymous search and no-search modes.
sesame_with ANON "  uri: ldap://127.0.0.1:$SLAPD_PORT
  bind_anonymous: true
  user_base_dn: $PEOPLE
  user_login_attribute: uid" || fail "Sesame starts in anonymous mode"
expect "anonymous search mode: alice logs in" 200 "$(login01 "$ANON_PORT" alice ldap-alice-pw)"
expect "anonymous search mode: wrong password 401" 401 "$(login01 "$ANON_PORT" alice nope)"

sesame_with DIRECT "  uri: ldap://127.0.0.1:$SLAPD_PORT
  user_base_dn: $PEOPLE
  user_login_attribute: uid" || fail "Sesame starts in no-search mode"
expect "no-search mode: alice logs in" 200 "$(login01 "$DIRECT_PORT" alice ldap-alice-pw)"
expect "no-search mode: the e-mail is read as the user" "63f3dc3c-865d-419e-bec2-e18c4b118224" "$(jq -r .data.xivo_user_uuid "$W/out.json")"
expect "no-search mode: wrong password 401" 401 "$(login01 "$DIRECT_PORT" alice nope)"
expect "no-search mode: the special login binds through DN escaping" 200 "$(login01 "$DIRECT_PORT" "$SPECIAL" special-pw)"
expect "no-search mode: twin binds as uid=twin under user_base_dn" 200 "$(login01 "$DIRECT_PORT" twin other-pw)"
# Unescaped, this login would make the DN uid=twin,ou=staff,ou=people,...: an
# entry that exists, with that password.
expect "no-search mode: a login cannot point the bind at another DN" 401 \
    "$(login01 "$DIRECT_PORT" "twin,ou=staff" other-pw)"

# --- No local user needed, by option: identity and ACLs from the policy.
sesame_with NOLOCAL "$SEARCH_LDAP
  local_user_required: false" || fail "Sesame starts with local_user_required: false"
expect "without local users, bob logs in" 200 "$(login01 "$NOLOCAL_PORT" bob other-pw)"
expect "his identity is his entry's DN" "uid=bob,$PEOPLE" "$(jq -r .data.auth_id "$W/out.json")"

# --- A refresh token reads its entry again: deleted, it mints nothing.
cat >"$L/rita.ldif" <<LDIF
dn: uid=rita,$PEOPLE
objectClass: inetOrgPerson
uid: rita
cn: Rita
sn: Rita
mail: rita@example.org
userPassword: rita-pw
LDIF
ldapadd -x -H "ldap://127.0.0.1:$SLAPD_PORT" -D "cn=admin,$BASE_DN" -w adminpw -f "$L/rita.ldif" >>"$L/ldapadd.log" 2>&1 \
    || fail "rita's entry is added"
offline() {
    curl -s -o "$W/out.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        "http://127.0.0.1:$NOLOCAL_PORT/0.1/token" "$@"
}
expect "an LDAP user's offline login" 200 "$(offline -u rita:rita-pw \
    -d '{"backend":"ldap_user","access_type":"offline","client_id":"e2e-app"}')"
RITA_RT=$(jq -r '.data.refresh_token // empty' "$W/out.json")
REFRESH=$(jq -cn --arg rt "$RITA_RT" '{backend:"ldap_user",refresh_token:$rt,client_id:"e2e-app"}')
expect "her refresh token mints a token" 200 "$(offline -d "$REFRESH")"
ldapdelete -x -H "ldap://127.0.0.1:$SLAPD_PORT" -D "cn=admin,$BASE_DN" -w adminpw "uid=rita,$PEOPLE" >>"$L/ldapadd.log" 2>&1 \
    || fail "rita's entry is deleted"
expect "her entry deleted, the refresh token is refused: 401" 401 "$(offline -d "$REFRESH")"

# --- TLS: StartTLS and LDAPS, with the generated CA; a wrong CA fails as 503.
sesame_with STARTTLS "  uri: ldap://127.0.0.1:$SLAPD_PORT
  start_tls: true
  ca_file: $L/ca.pem
  bind_dn: cn=sesame,$BASE_DN
  bind_password: svcpw
  user_base_dn: $PEOPLE
  user_login_attribute: uid" || fail "Sesame starts with StartTLS"
expect "StartTLS with the CA: alice logs in" 200 "$(login01 "$STARTTLS_PORT" alice ldap-alice-pw)"
sesame_with LDAPS "  uri: ldaps://127.0.0.1:$SLAPDS_PORT
  ca_file: $L/ca.pem
  user_base_dn: $PEOPLE
  user_login_attribute: uid" || fail "Sesame starts with LDAPS"
expect "LDAPS with the CA: alice logs in" 200 "$(login01 "$LDAPS_PORT" alice ldap-alice-pw)"
sesame_with BADCA "  uri: ldaps://127.0.0.1:$SLAPDS_PORT
  ca_file: $L/other-ca.pem
  user_base_dn: $PEOPLE
  user_login_attribute: uid" || fail "Sesame starts with a CA that signed nothing"
expect "LDAPS with the wrong CA: 503, not 401" 503 "$(login01 "$BADCA_PORT" alice ldap-alice-pw)"

# --- The certificate checked for a configured name (it holds localhost and
# 127.0.0.1), and what /readyz says when it does not hold that name.
sesame_with TLSNAME "  uri: ldaps://127.0.0.1:$SLAPDS_PORT
  ca_file: $L/ca.pem
  tls_server_name: localhost
  user_base_dn: $PEOPLE
  user_login_attribute: uid" || fail "Sesame starts with tls_server_name"
expect "tls_server_name a name of the certificate: alice logs in" 200 "$(login01 "$TLSNAME_PORT" alice ldap-alice-pw)"
sesame_with WRONGNAME "  uri: ldaps://127.0.0.1:$SLAPDS_PORT
  ca_file: $L/ca.pem
  tls_server_name: dc9.example.test
  user_base_dn: $PEOPLE
  user_login_attribute: uid" || fail "Sesame starts with a tls_server_name the certificate lacks"
expect "tls_server_name the certificate lacks: 503" 503 "$(login01 "$WRONGNAME_PORT" alice ldap-alice-pw)"
STATE=$(curl -s "http://127.0.0.1:$WRONGNAME_PORT/readyz" | jq -r .upstreams.ldap)
if grep -q 'not for dc9.example.test' <<<"$STATE" && grep -q 'localhost' <<<"$STATE" && grep -q 'tls_server_name' <<<"$STATE"; then
    pass "/readyz names the certificate's names, the one expected, and the setting"
else
    fail "/readyz on a name mismatch: $STATE"
fi
# A certificate without subjectAltName (as Samba makes its own): a second
# slapd serving one.
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$L/nosan.key" -out "$L/nosan.csr" >/dev/null 2>&1
printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n' >"$L/nosan.ext"
openssl x509 -req -in "$L/nosan.csr" -CA "$L/ca.pem" -CAkey "$L/ca.key" -CAcreateserial \
    -days 2 -extfile "$L/nosan.ext" -out "$L/nosan.pem" >/dev/null 2>&1
mkdir -p "$L/nosan-db"
sed -e "s|$L/server.pem|$L/nosan.pem|; s|$L/server.key|$L/nosan.key|; s|directory $L/db|directory $L/nosan-db|" \
    -e "s|$L/slapd.pid|$L/nosan.pid|; s|$L/slapd.args|$L/nosan.args|" "$L/slapd.conf" >"$L/nosan.conf"
NOSAN_LDAPS=$(free_port)
slapd -d 0 -f "$L/nosan.conf" -h "ldaps://127.0.0.1:$NOSAN_LDAPS/" >>"$L/nosan.log" 2>&1 &
E2E_PIDS+=("$!")
wait_port "$NOSAN_LDAPS" || fail "a slapd with a certificate without subjectAltName starts"
sesame_with NOSAN "  uri: ldaps://127.0.0.1:$NOSAN_LDAPS
  ca_file: $L/ca.pem
  user_base_dn: $PEOPLE
  user_login_attribute: uid" || fail "Sesame starts against a certificate without subjectAltName"
expect "a certificate without subjectAltName: 503" 503 "$(login01 "$NOSAN_PORT" alice ldap-alice-pw)"
STATE=$(curl -s "http://127.0.0.1:$NOSAN_PORT/readyz" | jq -r .upstreams.ldap)
grep -q 'has no subjectAltName for 127.0.0.1' <<<"$STATE" &&
    pass "/readyz says the certificate has no subjectAltName for the host" ||
    fail "/readyz on a certificate without subjectAltName: $STATE"

# --- Several servers: the first one down, logins go to the next; it is
# then left aside for the back-off (logged once), and /readyz shows each.
DEAD_PORT=$(free_port)
sesame_with MULTI "  uri: [\"ldap://127.0.0.1:$DEAD_PORT\", \"ldap://127.0.0.1:$SLAPD_PORT\"]
  bind_dn: cn=sesame,$BASE_DN
  bind_password: svcpw
  user_base_dn: $PEOPLE
  user_login_attribute: uid" || fail "Sesame starts with two directory servers"
expect "the first server down: alice logs in through the second" 200 "$(login01 "$MULTI_PORT" alice ldap-alice-pw)"
expect "  again (the first one left aside)" 200 "$(login01 "$MULTI_PORT" alice ldap-alice-pw)"
expect "  the unreachable server is logged once, not per login" 1 \
    "$(grep -c 'LDAP server unreachable' "$W/MULTI/sesame-MULTI.log")"
READY=$(curl -s "http://127.0.0.1:$MULTI_PORT/readyz")
expect "/readyz reports each server" "unreachable ok" \
    "$(jq -r --arg d "ldap.127.0.0.1:$DEAD_PORT" --arg u "ldap.127.0.0.1:$SLAPD_PORT" \
        '(.upstreams[$d] | split(":")[0]) + " " + .upstreams[$u]' <<<"$READY")"

# --- The directory stops, then comes back on the same port.
stop_pid "$SLAPD_PID" >/dev/null 2>&1
expect "directory down: /0.1/token answers 503" 503 "$(login01 "$P" alice ldap-alice-pw)"
expect "directory down: the UC login answers 503" 503 "$(login_uc "$P" alice ldap-alice-pw)"
expect "the UC error is BackendUnavailable" BackendUnavailable "$(jq -r .error "$W/out.json")"
expect "directory down: local logins still work" 200 "$(login_uc "$P" alice s3cre7)"
start_slapd || fail "slapd restarts"
expect "directory back: the next login succeeds, no restart of Sesame" 200 "$(login01 "$P" alice ldap-alice-pw)"
expect "directory back: the UC login succeeds" 200 "$(login_uc "$P" alice ldap-alice-pw)"

# --- A directory that accepts connections and never answers.
SILENT_PORT=$(free_port)
python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64); held = []
while True:
    held.append(s.accept()[0])
' "$SILENT_PORT" &
E2E_PIDS+=("$!")
wait_port "$SILENT_PORT"
sesame_with HOLE "  uri: ldap://127.0.0.1:$SILENT_PORT
  bind_dn: cn=sesame,$BASE_DN
  bind_password: svcpw
  user_base_dn: $PEOPLE
  user_login_attribute: uid
  connect_timeout_ms: 1000
  operation_timeout_ms: 1000" || fail "Sesame starts with a silent directory"
START=$(date +%s%N)
expect "a directory that never answers: 503" 503 "$(login01 "$HOLE_PORT" alice ldap-alice-pw)"
ELAPSED_MS=$(( ($(date +%s%N) - START) / 1000000 ))
if [ "$ELAPSED_MS" -lt 5000 ]; then pass "the silent directory is given up within the timeouts (${ELAPSED_MS} ms)"; else fail "the silent directory took ${ELAPSED_MS} ms"; fi

# --- The login forms of Active Directory, on OpenLDAP: DOMAIN\user for the
# domain TESTLOCAL, user@example.org found by its UPN (here the mail
# attribute stands for userPrincipalName); every form counts for the same
# account in the throttle (5 failures per login by default).
sesame_with FORMS "$SEARCH_LDAP
  user_login_forms: {domains: [TESTLOCAL], upn_suffixes: [example.org], upn_attribute: mail}" ||
    fail "Sesame starts with login forms"
expect "DOMAIN\\user: 200" 200 "$(login01 "$FORMS_PORT" 'TESTLOCAL\alice' ldap-alice-pw)"
expect "  the domain's case is ignored" 200 "$(login01 "$FORMS_PORT" 'testlocal\alice' ldap-alice-pw)"
expect "another domain: 401" 401 "$(login01 "$FORMS_PORT" 'OTHER\alice' ldap-alice-pw)"
expect "user@upn-suffix, found by its UPN: 200" 200 "$(login01 "$FORMS_PORT" alice@example.org ldap-alice-pw)"
expect "  the token is alice's" "63f3dc3c-865d-419e-bec2-e18c4b118224" "$(jq -r .data.xivo_user_uuid "$W/out.json")"
for form in 'TESTLOCAL\alice' 'TESTLOCAL\alice' 'TESTLOCAL\alice' alice@example.org ALICE@example.org; do
    login01 "$FORMS_PORT" "$form" wrong-pw >/dev/null
done
expect "5 failures spread over the forms lock the bare login too" 429 "$(login01 "$FORMS_PORT" alice ldap-alice-pw)"

# --- Groups to policies: groupOfNames and groupOfUniqueNames found by a
# search (OpenLDAP has no memberOf here), matched by name and by DN.
ldapadd -x -H "ldap://127.0.0.1:$SLAPD_PORT" -D "cn=admin,$BASE_DN" -w adminpw >"$L/groups.log" 2>&1 <<LDIF || fail "the groups are loaded"
dn: ou=groups,$BASE_DN
objectClass: organizationalUnit
ou: groups

dn: cn=UC admins,ou=groups,$BASE_DN
objectClass: groupOfNames
cn: UC admins
member: uid=alice,$PEOPLE

dn: cn=phone,ou=groups,$BASE_DN
objectClass: groupOfUniqueNames
cn: phone
uniqueMember: uid=alice,$PEOPLE
uniqueMember: uid=bob,$PEOPLE

dn: cn=UC admins,ou=people,$BASE_DN
objectClass: groupOfNames
cn: UC admins
member: uid=bob,$PEOPLE
LDIF
sesame_with GROUPS "$SEARCH_LDAP
  local_user_required: false
  group_membership: search
  group_base_dn: ou=groups,$BASE_DN
  group_policies: {\"cn=UC admins,ou=groups,$BASE_DN\": ldap_admins, phone: phones}" ||
    fail "Sesame starts with LDAP group policies"
acl_of() { login01 "$GROUPS_PORT" "$1" "$2" >/dev/null; jq -c '[.data.acl[] | select(. == "admin.#" or . == "calld.#")] | sort' "$W/out.json"; }
expect "alice, in both groups: both policies' ACLs" '["admin.#","calld.#"]' "$(acl_of alice ldap-alice-pw)"
expect "bob: the phone group's only (a same-named group outside group_base_dn does not count)" '["calld.#"]' "$(acl_of bob other-pw)"
expect "dave, in no group: none" '[]' "$(acl_of dave other-pw)"
# The same groups through memberOf (slapd's memberof overlay keeps it for
# groupOfNames): a DN key is that group only.
sesame_with MEMBEROF "$SEARCH_LDAP
  local_user_required: false
  group_policies: {\"cn=UC admins,ou=groups,$BASE_DN\": ldap_admins}" ||
    fail "Sesame starts with group policies read from memberOf"
GROUPS_PORT=$MEMBEROF_PORT
expect "memberOf: alice gets the group's policy" '["admin.#"]' "$(acl_of alice ldap-alice-pw)"
expect "memberOf: bob, in a same-named group elsewhere, does not" '[]' "$(acl_of bob other-pw)"

# --- An entry whose e-mail only XiVO's database has: with an sql xivo_user
# that maps identities, the LDAP login finds the CTI user there (after the
# users file), and follows its "CTI login enabled" flag.
start_postgres PG pg-admin-pw || { fail "PostgreSQL starts for the LDAP-to-database match"; finish; exit; }
psql_ldap() { PGPASSWORD=pg-admin-pw psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG" -U postgres -d postgres "$@"; }
psql_ldap -f "$E2E_ROOT/e2e/sql/xivo.sql" >/dev/null || fail "XiVO's tables are loaded"
export E2E_PG_PW=pg-admin-pw
sesame_with DBMATCH "$SEARCH_LDAP" "sql:
  xivo_user: {url: \"postgresql://postgres@127.0.0.1:$PG/postgres\", password_env: E2E_PG_PW, preset: xivo, match_external_identities: true}" ||
    fail "Sesame starts with an sql xivo_user beside the LDAP backend"
# bob's entry (bob@example.org) has no local user; the database has him, disabled.
expect "the database's account is disabled: 401" 401 "$(login01 "$DBMATCH_PORT" bob other-pw)"
psql_ldap -c "UPDATE userfeatures SET enableclient = 1 WHERE loginclient = 'bob'" >/dev/null
expect "enabled in the database: the LDAP login is 200" 200 "$(login01 "$DBMATCH_PORT" bob other-pw)"
expect "  and the token is the database's bob" "2b4c7f7e-4b43-4a44-9a7b-1c0c5f6d0002 bob" \
    "$(jq -r '.data.xivo_user_uuid + " " + .data.metadata.login' "$W/out.json")"
expect "alice's local user is still found first" "63f3dc3c-865d-419e-bec2-e18c4b118224" \
    "$(login01 "$DBMATCH_PORT" alice ldap-alice-pw >/dev/null; jq -r .data.xivo_user_uuid "$W/out.json")"
pg_ctl_as "$PG_DIR" stop -m fast >/dev/null
expect "the database down: 503, not 401" 503 "$(login01 "$DBMATCH_PORT" bob other-pw)"

# --- Nothing secret in the logs.
if grep -h -e ldap-alice-pw -e special-pw -e svcpw -e other-pw "$W"/*/sesame-*.log >/dev/null; then
    fail "a log holds a password"
else
    pass "no log holds a password"
fi

finish
