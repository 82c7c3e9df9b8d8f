#!/usr/bin/env bash
# e2e suite `sql`: the `sql` backends against a real PostgreSQL (initdb in a
# temporary directory, loopback, scram-sha-256): XiVO's tables through the
# `xivo` preset (clear-text CTI, web-service and administrator passwords),
# wazo-auth's tables through the `wazo` preset (PBKDF2-HMAC-SHA512 as
# wazo-auth computes it), a query that does not fit refused at start-up,
# `sesame backend test`, the database stopped (503, never 401) and started
# again (served without a restart), a slow database bounded by the query
# timeout and the pool size.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
e2e_setup sql
W="$E2E_WORK"
LOADERS=()
PGPASS_ADMIN=pg-admin-pw
start_postgres PG "$PGPASS_ADMIN" || { fail "PostgreSQL starts (initdb, pg_ctl)"; finish; exit; }
pass "PostgreSQL runs on 127.0.0.1:$PG"
psql_as() { PGPASSWORD="$PGPASS_ADMIN" psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG" -U postgres "$@"; }
psql_as -d postgres -c "CREATE ROLE sesame LOGIN PASSWORD 'sesame-db-pw'" \
    -c "CREATE DATABASE asterisk" -c "CREATE DATABASE wazo_auth" >/dev/null ||
    { fail "the databases are made"; finish; exit; }
psql_as -d asterisk -f "$E2E_ROOT/e2e/sql/xivo.sql" >/dev/null &&
    psql_as -d asterisk -c "GRANT SELECT ON ALL TABLES IN SCHEMA public TO sesame" >/dev/null ||
    { fail "XiVO's tables are loaded"; finish; exit; }

# wazo-auth's users: hashes computed as its PasswordEncrypter does.
TOP=8a3f0c52-7d1e-4b6a-9c2d-000000000001
CAROL=8a3f0c52-7d1e-4b6a-9c2d-0000000000c0
DAN=8a3f0c52-7d1e-4b6a-9c2d-0000000000d0
SALES=8a3f0c52-7d1e-4b6a-9c2d-000000000002
EMEA=8a3f0c52-7d1e-4b6a-9c2d-000000000003
wazo_hash() { python3 -c "import hashlib, sys; print(hashlib.pbkdf2_hmac('sha512', sys.argv[1].encode(), bytes.fromhex(sys.argv[2]), 250000).hex())" "$1" "$2"; }
SALT=$(openssl rand -hex 64)
HASH=$(wazo_hash "wazo-s3cre7" "$SALT")
psql_as -d wazo_auth -f "$E2E_ROOT/e2e/sql/wazo.sql" >/dev/null &&
    psql_as -d wazo_auth >/dev/null <<SQL || { fail "wazo-auth's tables are loaded"; finish; exit; }
INSERT INTO auth_tenant VALUES ('$TOP', 'master', 'master', '$TOP'),
  ('$SALES', 'Sales & Co', 'sales', '$TOP'), ('$EMEA', NULL, 'emea', '$SALES');
INSERT INTO auth_tenant_domain VALUES ('8a3f0c52-7d1e-4b6a-9c2d-0000000000f1', 'sales.example.org', '$SALES');
INSERT INTO auth_user VALUES
  ('$CAROL', 'carol', 'Carol', '', '$HASH', decode('$SALT', 'hex'), 'user', 'native', true, '$TOP'),
  ('$DAN', 'dan', 'Dan', '', '$HASH', decode('$SALT', 'hex'), 'user', 'saml', true, '$TOP');
INSERT INTO auth_email VALUES ('8a3f0c52-7d1e-4b6a-9c2d-0000000000e1', 'carol@example.org', true, true, '$CAROL');
GRANT SELECT ON ALL TABLES IN SCHEMA public TO sesame;
SQL

PORT=$(free_port)
DB="postgresql://sesame@127.0.0.1:$PG"
cat >"$W/config.yml" <<YAML
listen: {address: 127.0.0.1, port: $PORT, tls: {enabled: false}}
data_dir: data
default_tenant_uuid: $TOP
enabled_backend_plugins: {xivo_user: true, xivo_service: true, xivo_admin: true, wazo_db: true, slow_db: true}
default_backends: [xivo_user, wazo_db]
uc_api: {login_backends: [xivo_user]}
throttle: {max_failures_per_login: 50, max_failures_per_address: 200}
sql:
  xivo_user: {url: "$DB/asterisk", password_env: SESAME_DB_PASSWORD, preset: xivo, query_timeout_ms: 2000}
  xivo_service: {url: "$DB/asterisk", password_env: SESAME_DB_PASSWORD, preset: xivo}
  xivo_admin: {url: "$DB/asterisk", password_file: db-password, preset: xivo}
  wazo_db: {url: "$DB/wazo_auth", password_env: SESAME_DB_PASSWORD, preset: wazo}
  slow_db:
    url: "$DB/asterisk"
    password_env: SESAME_DB_PASSWORD
    pool_size: 2
    query_timeout_ms: 700
    password_format: plaintext
    by_login: >-
      SELECT uuid::text AS uuid, loginclient AS login, passwdclient AS password
      FROM userfeatures, (SELECT pg_sleep(3)) AS slow WHERE loginclient = \$1
YAML
echo "sesame-db-pw" >"$W/db-password"
start_sesame S "$W/config.yml" "$PORT" SESAME_DB_PASSWORD=sesame-db-pw ||
    { fail "Sesame starts with the sql backends"; finish; exit; }
grep -q 'the query fits the database' "$W/sesame-S.log" && pass "start-up prepared each query against the database" ||
    fail "start-up prepared each query against the database"

login() { token_login "$PORT" "$@"; }
O() { jq -c "$1" "$W/out.json"; }
expect "xivo_user: alice's CTI password (clear text in userfeatures)" 200 "$(login xivo_user alice cti-s3cre7)"
expect "  the token's user is the userfeatures uuid, e-mail and purpose kept" \
    '"2b4c7f7e-4b43-4a44-9a7b-1c0c5f6d0001" "alice@example.org" "user"' \
    "$(O .data.metadata.uuid) $(O .data.metadata.email) $(O .data.metadata.purpose)"
expect "xivo_user: a wrong password is 401" 401 "$(login xivo_user alice wrong)"
expect "xivo_user: CTI login disabled (enableclient = 0) is 401" 401 "$(login xivo_user bob b0b-pass)"
expect "xivo_user: an unknown login is 401" 401 "$(login xivo_user nobody x)"
expect "xivo_user: the empty login of a user without CTI access is 401" 401 "$(login xivo_user '' x)"
expect "the UC login reads the same table" 200 "$(uc_login "$PORT" alice cti-s3cre7)"
expect "xivo_service: the web-service account, its ACL array in the token" '200 true' \
    "$(login xivo_service xuc xuc-key) $(jq '.data.acl | index("dird.#") != null' "$W/out.json")"
expect "xivo_service: a disabled web-service account is 401" 401 "$(login xivo_service old old-key)"
expect "xivo_admin: the web administrator (password from a file)" '200 "admin"' \
    "$(login xivo_admin root r00t-pass) $(O .data.metadata.purpose)"
expect "wazo preset: carol's wazo-auth PBKDF2 hash" 200 "$(login wazo_db carol wazo-s3cre7)"
expect "  by her e-mail too, in her tenant" "200 \"$CAROL\" \"$TOP\"" \
    "$(login wazo_db carol@example.org wazo-s3cre7) $(O .data.metadata.uuid) $(O .data.metadata.tenant_uuid)"
expect "wazo preset: a wrong password is 401" 401 "$(login wazo_db carol wrong)"
expect "wazo preset: a user who logs in by SAML has no password login" 401 "$(login wazo_db dan wazo-s3cre7)"
code=$(curl -s -o "$W/out.json" -w '%{http_code}' -X POST -u carol:wazo-s3cre7 -H 'Content-Type: application/json' \
    "http://127.0.0.1:$PORT/0.1/token" -d '{"expiration": 600}')
expect "a Wazo client's login with no backend reaches the wazo database" 200 "$code"

# sesame backend test: what an operator runs before going live.
TEST=$(cd "$W" && SESAME_DB_PASSWORD=sesame-db-pw "$SESAME_BIN" -c config.yml backend test xivo_user alice 2>&1)
if grep -q 'uuid: 2b4c7f7e-4b43-4a44-9a7b-1c0c5f6d0001' <<<"$TEST" && grep -q 'stored as plaintext' <<<"$TEST" &&
    ! grep -q 'cti-s3cre7' <<<"$TEST"; then
    pass "sesame backend test prints the account, the password's format, never the password"
else
    fail "sesame backend test: $TEST"
fi
TEST=$(cd "$W" && SESAME_DB_PASSWORD=sesame-db-pw "$SESAME_BIN" -c config.yml backend test wazo_db carol@example.org 2>&1)
grep -q 'stored as wazo_pbkdf2' <<<"$TEST" && pass "sesame backend test reads wazo-auth's hash format" ||
    fail "sesame backend test (wazo): $TEST"
# wazo-auth's tenant tree, printed as Sesame's configuration: it is valid
# as it is, and has the tree.
(cd "$W" && SESAME_DB_PASSWORD=sesame-db-pw "$SESAME_BIN" -c config.yml backend tenants wazo_db >tenants.yml 2>&1)
grep -v '^default_tenant_uuid:' "$W/config.yml" >"$W/with-tenants.yml" && cat "$W/tenants.yml" >>"$W/with-tenants.yml"
if (cd "$W" && SESAME_DB_PASSWORD=sesame-db-pw "$SESAME_BIN" -c with-tenants.yml check-config >/dev/null 2>&1) &&
    grep -q "default_tenant_uuid: $TOP" "$W/tenants.yml" && grep -q "parent: $SALES" "$W/tenants.yml" &&
    grep -q 'sales.example.org' "$W/tenants.yml" && grep -q "Sales & Co" "$W/tenants.yml"; then
    pass "sesame backend tenants prints wazo-auth's tenant tree as a configuration check-config accepts"
else
    fail "sesame backend tenants: $(cat "$W/tenants.yml")"
fi
TEST=$(cd "$W" && SESAME_DB_PASSWORD=sesame-db-pw "$SESAME_BIN" -c config.yml backend test xivo_user --email ALICE@example.org 2>&1)
grep -q 'uuid: 2b4c7f7e-4b43-4a44-9a7b-1c0c5f6d0001' <<<"$TEST" &&
    pass "sesame backend test --email runs the preset's e-mail query (case-insensitive)" ||
    fail "sesame backend test --email: $TEST"
if grep -q -e 'sesame-db-pw' -e 'cti-s3cre7' -e 'wazo-s3cre7' "$W/sesame-S.log"; then
    fail "no log holds a password"
else
    pass "no log holds a password (database's or users')"
fi

# A query that does not fit: refused at start-up, naming backend and column.
BAD_PORT=$(free_port)
sed -e "s/port: $PORT/port: $BAD_PORT/" -e 's/passwdclient AS password/passwdclient AS pasword/' \
    -e 's/^data_dir: data$/data_dir: data-bad/' \
    "$W/config.yml" >"$W/bad.yml"
OUT=$(cd "$W" && SESAME_DB_PASSWORD=sesame-db-pw timeout 20 "$SESAME_BIN" serve -c bad.yml 2>&1)
code=$?
if [ "$code" -ne 0 ] && grep -q 'sql.slow_db' <<<"$OUT" && grep -q 'pasword' <<<"$OUT"; then
    pass "a query whose columns do not fit stops start-up, naming the backend and the column"
else
    fail "a bad query at start-up: exit $code: $(tail -3 <<<"$OUT")"
fi

# A slow database: the query timeout answers 503, the pool bounds the
# connections held however many logins wait.
start=$(date +%s%N)
code=$(login slow_db alice cti-s3cre7)
took=$(( ($(date +%s%N) - start) / 1000000 ))
expect "a query slower than query_timeout_ms is 503 (not 401)" 503 "$code"
[ "$took" -lt 2500 ] && pass "  answered within the timeout (${took} ms), not after the query" ||
    fail "  answered within the timeout: ${took} ms"
SLOW=()
for i in $(seq 1 8); do
    (E2E_OUT="$W/slow-$i.json" login slow_db alice cti-s3cre7 >"$W/slow-$i.code") &
    SLOW+=("$!")
done
sleep 0.4
HELD=$(psql_as -d postgres -At -c "SELECT count(*) FROM pg_stat_activity WHERE usename = 'sesame' AND query LIKE '%pg_sleep%' AND state = 'active'")
wait "${SLOW[@]}"
expect "8 logins at once on a slow database hold at most pool_size (2) connections" yes \
    "$([ "$HELD" -le 2 ] && [ "$HELD" -ge 1 ] && echo yes || echo "no: $HELD")"
expect "  and each is answered 503" "503 503 503 503 503 503 503 503" "$(for f in "$W"/slow-*.code; do printf '%s ' "$(cat "$f")"; done | sed 's/ $//')"
expect "meanwhile the fast backends still serve" 200 "$(login xivo_user alice cti-s3cre7)"

# The database stopped under load: 503, never 401; /readyz says so; back
# without a restart. Two workers log in without pause meanwhile.
for w in 1 2; do
    (while [ ! -e "$W/load-stop" ]; do
        E2E_OUT="$W/load-$w.json" login xivo_user alice cti-s3cre7 >>"$W/load-$w.codes"
        echo >>"$W/load-$w.codes"
    done) &
    LOADERS+=("$!")
done
sleep 1
pg_ctl_as "$PG_DIR" stop -m fast >/dev/null || fail "PostgreSQL stops"
expect "database down: a login is 503, not 401" 503 "$(login xivo_user alice cti-s3cre7)"
expect "database down: the body says the backend is unavailable" true \
    "$(jq '.reason[0] | test("unavailable")' "$W/out.json")"
expect "database down: a wrong password is 503 too (nothing is blamed on the user)" 503 "$(login xivo_user alice wrong)"
READY=$(curl -s "http://127.0.0.1:$PORT/readyz")
expect "/readyz reports the database" true "$(jq '.upstreams["sql.xivo_user"] != "ok"' <<<"$READY")"
pg_ctl_as "$PG_DIR" -l "$PG_DIR/postgres.log" -w start >/dev/null || fail "PostgreSQL starts again"
ok=no
for _ in $(seq 1 20); do
    [ "$(login xivo_user alice cti-s3cre7)" = 200 ] && { ok=yes; break; }
    sleep 0.5
done
expect "database back: logins served again without restarting Sesame" yes "$ok"
sleep 1
touch "$W/load-stop"
wait "${LOADERS[@]}"
CODES=$(cat "$W"/load-*.codes | grep -v '^$' | sort | uniq -c | awk '{print $2 "x" $1}' | tr '\n' ' ')
BAD=$(cat "$W"/load-*.codes | grep -v -e '^$' -e '^200$' -e '^503$' | sort -u | tr '\n' ' ')
expect "under load through the outage, every answer was 200 or 503 ($CODES)" "" "$BAD"
grep -qx 503 "$W"/load-*.codes && grep -qx 200 "$W"/load-1.codes &&
    [ "$(tail -n 2 "$W/load-1.codes" | grep -v '^$' | tail -1)" = 200 ] &&
    pass "  503 while it was down, 200 again after" || fail "  503 while it was down, 200 again after: $CODES"
finish
