# Helpers for the e2e suites and the test command: free ports, peers started
# on loopback and stopped by their own PID, checks and their tally.
# Sourced, not run.

E2E_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
E2E_PASSED=0
E2E_FAILED=0
E2E_PIDS=()
E2E_PG_DIRS=()

e2e_setup() {
    E2E_NAME="$1"
    E2E_WORK="$(mktemp -d "${TMPDIR:-/tmp}/sesame-e2e-$1.XXXXXX")"
    trap e2e_cleanup EXIT
}

e2e_cleanup() {
    local pid
    for pid in "${E2E_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${E2E_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    local dir
    for dir in "${E2E_PG_DIRS[@]}"; do
        pg_ctl_as "$dir" stop -m immediate >/dev/null 2>&1 || true
        [ "$E2E_FAILED" -gt 0 ] || [ -n "${E2E_KEEP:-}" ] || rm -rf "$dir"
    done
    if [ "$E2E_FAILED" -gt 0 ] || [ -n "${E2E_KEEP:-}" ]; then
        echo "   (work directory kept: $E2E_WORK)"
    else
        rm -rf "$E2E_WORK"
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT [SECONDS]: until something accepts connections on PORT.
wait_port() {
    local port="$1" deadline=$(( $(date +%s) + ${2:-20} ))
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}

# start_redis VAR [PORT] [DIR]: redis-server with an append-only file, its
# port stored in VAR and its PID in VAR_PID.
start_redis() {
    local var="$1" port="${2:-$(free_port)}" dir="${3:-$E2E_WORK/redis-$1}"
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' \
        --appendonly yes --appendfsync always >"$dir/redis.log" 2>&1 &
    local pid=$!
    E2E_PIDS+=("$pid")
    wait_port "$port" || { echo "redis-server did not start" >&2; return 1; }
    printf -v "$var" '%s' "$port"
    printf -v "${var}_PID" '%s' "$pid"
}

# PostgreSQL's binaries (Debian installs them per major version).
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

# pg_ctl_as DIR ARGS...: pg_ctl on the cluster in DIR, as the user that owns
# it (postgres when the tests run as root: initdb refuses root).
pg_ctl_as() {
    local dir="$1"
    shift
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$dir/data" "$@"
    else
        "$(pg_bin)/pg_ctl" -D "$dir/data" "$@"
    fi
}

# start_postgres VAR PASSWORD: a PostgreSQL server of its own (initdb in a
# temporary directory, loopback only, a free port), superuser `postgres`
# with PASSWORD (scram-sha-256 over TCP). Sets VAR to its port and VAR_DIR
# to its directory; pg_ctl_as DIR stop|start drives it.
start_postgres() {
    local var="$1" password="$2" port bin dir
    port=$(free_port)
    bin=$(pg_bin)
    [ -x "$bin/initdb" ] || { echo "PostgreSQL is not installed (no initdb)" >&2; return 1; }
    dir=$(mktemp -d "${TMPDIR:-/tmp}/sesame-pg.XXXXXX")
    E2E_PG_DIRS+=("$dir")
    printf '%s\n' "$password" >"$dir/pwfile"
    local run=()
    if [ "$(id -u)" = 0 ]; then
        chown -R postgres "$dir"
        run=(runuser -u postgres --)
    fi
    "${run[@]}" "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; return 1; }
    echo "port = $port" >>"$dir/data/postgresql.conf"
    echo "listen_addresses = '127.0.0.1'" >>"$dir/data/postgresql.conf"
    echo "unix_socket_directories = '$dir'" >>"$dir/data/postgresql.conf"
    pg_ctl_as "$dir" -l "$dir/postgres.log" -w start >/dev/null ||
        { cat "$dir/postgres.log" >&2; return 1; }
    printf -v "$var" '%s' "$port"
    printf -v "${var}_DIR" '%s' "$dir"
}

# start_sesame VAR CONFIG PORT [ENV=VALUE...]: the Sesame binary, logging to
# CONFIG's directory, PID in VAR_PID; waits until PORT accepts connections.
start_sesame() {
    local var="$1" config="$2" port="$3"
    shift 3
    env "$@" "$SESAME_BIN" serve -c "$config" >>"$(dirname "$config")/sesame-$var.log" 2>&1 &
    local pid=$!
    E2E_PIDS+=("$pid")
    wait_port "$port" || { echo "sesame did not start:"; cat "$(dirname "$config")/sesame-$var.log"; return 1; }
    printf -v "${var}_PID" '%s' "$pid"
}

# stop_pid PID: SIGTERM and wait; returns the exit status.
stop_pid() {
    kill -TERM "$1" 2>/dev/null || true
    wait "$1"
}

# start_nginx PORT LOCATIONS [LISTEN] [HTTP]: nginx in $E2E_WORK/nginx on
# 127.0.0.1:PORT (LISTEN: more `listen` parameters, e.g. `ssl`), its server
# block holding LOCATIONS (nginx directives), HTTP more directives of the
# http block (an upstream); the access log ($E2E_WORK/nginx/access.log) has
# no query strings.
start_nginx() {
    local n="$E2E_WORK/nginx"
    mkdir -p "$n/tmp"
    cat >"$n/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $n/nginx.pid;
error_log $n/error.log warn;
events { worker_connections 256; }
http {
    log_format no_query '\$remote_addr "\$request_method \$uri" \$status';
    access_log $n/access.log no_query;
    client_body_temp_path $n/tmp/body;
    proxy_temp_path $n/tmp/proxy;
    fastcgi_temp_path $n/tmp/fastcgi;
    uwsgi_temp_path $n/tmp/uwsgi;
    scgi_temp_path $n/tmp/scgi;
${4:-}
    server {
        listen 127.0.0.1:$1 ${3:-};
$2
    }
}
CONF
    nginx -p "$n" -c "$n/nginx.conf" -e "$n/error.log" &
    E2E_PIDS+=("$!")
    wait_port "$1" || { cat "$n/error.log"; return 1; }
}

# ensure_venv: the Python client libraries of e2e/clients/requirements.txt in
# target/e2e-venv (made again when the requirements change); sets VENV.
ensure_venv() {
    VENV="$E2E_ROOT/target/e2e-venv"
    local reqs="$E2E_ROOT/e2e/clients/requirements.txt"
    cmp -s "$reqs" "$VENV/requirements.txt" 2>/dev/null && return 0
    rm -rf "$VENV"
    python3 -m venv "$VENV" && "$VENV/bin/pip" install -q -r "$reqs" && cp "$reqs" "$VENV/requirements.txt"
}

# ensure_node: the Node packages of e2e/oidc/package-lock.json (oidc-provider,
# playwright-core) and the scripts beside them, in target/e2e-node; sets NODE_DIR.
ensure_node() {
    NODE_DIR="$E2E_ROOT/target/e2e-node"
    local lock="$E2E_ROOT/e2e/oidc/package-lock.json"
    if ! cmp -s "$lock" "$NODE_DIR/package-lock.json" 2>/dev/null; then
        rm -rf "$NODE_DIR" && mkdir -p "$NODE_DIR" \
            && cp "$E2E_ROOT/e2e/oidc/package.json" "$lock" "$NODE_DIR/" \
            && (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || return 1
    fi
    cp "$E2E_ROOT"/e2e/oidc/*.mjs "$NODE_DIR/"
}

# ensure_wazo_sdk: @wazo/sdk's published package (its npm tarball, checked
# against the registry's integrity) in target/e2e-wazo; sets WAZO_SDK to its
# dist bundle. (`npm install` cannot be used: the package depends on a git
# repository this machine does not reach; the bundle holds what it needs.)
WAZO_SDK_VERSION=0.44.7
WAZO_SDK_INTEGRITY="sha512-0j/Q8eCOCskCQveDuA+Pb3seIsCWU6NLYQ+HRZ/QoEyLHpCIgcSJ4QKixUhE1WAk2dH7bjdM6dHMUpwtTHKGcg=="
ensure_wazo_sdk() {
    local dir="$E2E_ROOT/target/e2e-wazo"
    WAZO_SDK="$dir/package/dist/wazo-sdk.js"
    [ -f "$WAZO_SDK" ] && [ "$(cat "$dir/version" 2>/dev/null)" = "$WAZO_SDK_VERSION" ] && return 0
    rm -rf "$dir" && mkdir -p "$dir" || return 1
    (cd "$dir" && npm pack "@wazo/sdk@$WAZO_SDK_VERSION" --loglevel=error >/dev/null) || return 1
    local tarball="$dir/wazo-sdk-$WAZO_SDK_VERSION.tgz" got
    got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
    [ "$got" = "$WAZO_SDK_INTEGRITY" ] || { echo "@wazo/sdk: integrity $got"; return 1; }
    tar -xzf "$tarball" -C "$dir" && echo "$WAZO_SDK_VERSION" >"$dir/version"
}

# start_app PORT: a static "application" page at http://127.0.0.1:PORT/app/,
# where browser logins end.
start_app() {
    mkdir -p "$E2E_WORK/www/app"
    echo '<!doctype html><title>UC application</title><p>Logged in.</p>' >"$E2E_WORK/www/app/index.html"
    (cd "$E2E_WORK/www" && exec python3 -m http.server "$1" --bind 127.0.0.1 >/dev/null 2>&1) &
    E2E_PIDS+=("$!")
    wait_port "$1"
}

# browser_token LOGIN_URL APP_URL USER PASSWORD: headless Chromium through a
# browser login (e2e/oidc/browser_login.mjs); prints the Sesame token of the
# URL fragment it ends with. Needs ensure_node.
browser_token() {
    (cd "$NODE_DIR" && CHROMIUM="$(command -v chromium)" timeout 90 node browser_login.mjs "$@" 2>>"$E2E_WORK/browser.err") |
        sed -n 's/.*token=\([^&]*\).*/\1/p'
}

# --- Logins, shared by the suites. Each prints the HTTP status and leaves
# the answer's body in $E2E_OUT ($E2E_WORK/out.json unless set). BASE is a
# URL (http://127.0.0.1:PORT) or a bare port on loopback.
e2e_base() { case "$1" in http*) echo "$1" ;; *) echo "http://127.0.0.1:$1" ;; esac; }
e2e_out() { echo "${E2E_OUT:-$E2E_WORK/out.json}"; }

# token_login BASE BACKEND LOGIN PASSWORD [EXPIRATION]: POST /0.1/token, HTTP Basic.
token_login() {
    local body
    body=$(jq -cn --arg b "$2" --arg e "${5:-}" '{backend: $b} + (if $e == "" then {} else {expiration: ($e | tonumber)} end)')
    curl -k -s -o "$(e2e_out)" -w '%{http_code}' -X POST -u "$3:$4" \
        -H 'Content-Type: application/json' "$(e2e_base "$1")/0.1/token" -d "$body"
}

# uc_login BASE LOGIN PASSWORD: POST /xuc/api/2.0/auth/login.
uc_login() {
    local body
    body=$(jq -cn --arg l "$2" --arg p "$3" '{login: $l, password: $p}')
    curl -k -s -o "$(e2e_out)" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        "$(e2e_base "$1")/xuc/api/2.0/auth/login" -d "$body"
}

# uc_check BASE TOKEN: GET /xuc/api/2.0/auth/check.
uc_check() {
    curl -k -s -o "$(e2e_out)" -w '%{http_code}' -H "X-Auth-Token: $2" "$(e2e_base "$1")/xuc/api/2.0/auth/check"
}

# token_of: the token of the last login's answer (either API).
token_of() { jq -r '.data.token // .token // empty' "$(e2e_out)"; }

pass() { E2E_PASSED=$((E2E_PASSED + 1)); echo "  ok    $*"; }
fail() { E2E_FAILED=$((E2E_FAILED + 1)); echo "  FAIL  $*"; }

# expect DESCRIPTION EXPECTED ACTUAL
expect() {
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: expected [$2], got [$3]"; fi
}

# finish: the suite's tally, and its exit status.
finish() {
    echo "$E2E_NAME: $E2E_PASSED passed, $E2E_FAILED failed"
    [ "$E2E_FAILED" -eq 0 ]
}
