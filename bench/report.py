"""Read the oha outputs of one bench/run and write the report: one line per
scenario, ratio and target on stdout, the same as JSON in
target/bench/latest.json.

Usage: report.py RESULTS_DIR OUT_JSON
       report.py --line NAME FILE   (one round's line, while the run goes on)
RESULTS_DIR holds NAME.ROUND.json files (oha --output-format json), beside
them NAME.ROUND.cpu (the CPU time Sesame used during that round, in ns) and
NAME.before.metrics / NAME.after.metrics (its /metrics around a scenario)
where bench/run took them, and facts.json.
"""

import glob
import json
import os
import sys


def parse(path):
    """One round: answers per second (completed answers only: those oha
    aborted at the deadline are left out), latency percentiles in ms, and
    the answers by status."""
    data = json.load(open(path))
    statuses = {k: int(v) for k, v in (data.get("statusCodeDistribution") or {}).items()}
    answered = sum(statuses.values())
    seconds = data["summary"]["total"]
    pct = data.get("latencyPercentiles") or {}

    def ms(key):
        value = pct.get(key)
        return round(value * 1000, 3) if value is not None else None

    errors = {k: v for k, v in (data.get("errorDistribution") or {}).items()
              if k != "aborted due to deadline"}
    round_ = {
        "rps": round(answered / seconds, 1) if seconds else 0.0,
        "p50_ms": ms("p50"),
        "p99_ms": ms("p99"),
        "requests": answered,
        "statuses": statuses,
        "errors": errors,
    }
    cpu = path[: -len(".json")] + ".cpu"
    if os.path.exists(cpu) and answered:
        round_["cpu_us_per_answer"] = round(int(open(cpu).read()) / 1000 / answered, 1)
    return round_


SERVER_ROUTES = {"B_check_half_rate": "/0.1/token/{token}", "A_ceiling_half_rate": "/healthz"}


def buckets(path, route):
    """Cumulative counts of Sesame's request-duration histogram for `route`."""
    found = {}
    needle = f'route="{route}"'
    for text in open(path):
        if text.startswith("sesame_http_request_duration_seconds_bucket{") and needle in text:
            le = text.split('le="', 1)[1].split('"', 1)[0]
            found[float("inf") if le == "+Inf" else float(le)] = float(text.rsplit(" ", 1)[1])
    return found


def scrapes(results, name):
    """The /metrics texts bench/run read before and after scenario `name`,
    or None where it read none."""
    before = os.path.join(results, f"{name}.before.metrics")
    after = os.path.join(results, f"{name}.after.metrics")
    if os.path.exists(before) and os.path.exists(after):
        return before, after
    return None


def server_p99_ms(results, name):
    """The upper bound of the histogram bucket holding the 99th percentile
    of the requests answered during the run, as Sesame timed them."""
    route = SERVER_ROUTES.get(name)
    scraped = scrapes(results, name)
    if not route or not scraped:
        return None
    start, end = buckets(scraped[0], route), buckets(scraped[1], route)
    counts = sorted((le, end[le] - start.get(le, 0.0)) for le in end)
    if not counts or counts[-1][1] <= 0:
        return None
    total = counts[-1][1]
    for le, n in counts:
        if n >= 0.99 * total:
            return None if le == float("inf") else round(le * 1000, 3)
    return None


def metric(path, name):
    """The value of the series `name` (no labels) in a /metrics text."""
    for text in open(path):
        if text.startswith(name + " "):
            return float(text.split()[1])
    return None


def store_commits(results, name):
    """The embedded store's commits during scenario `name`: how many, the
    operations (token writes) each carried, and their mean time."""
    scraped = scrapes(results, name)
    if not scraped:
        return None
    before, after = scraped
    delta = {}
    for series in ("sesame_store_commit_seconds_count", "sesame_store_commit_seconds_sum",
                   "sesame_store_commit_operations_total"):
        start, end = metric(before, series), metric(after, series)
        if start is None or end is None:
            return None
        delta[series] = end - start
    commits = delta["sesame_store_commit_seconds_count"]
    if commits <= 0:
        return None
    return {
        "commits": int(commits),
        "operations_per_commit": round(delta["sesame_store_commit_operations_total"] / commits, 1),
        "mean_commit_ms": round(delta["sesame_store_commit_seconds_sum"] / commits * 1000, 3),
    }


def line(name, s):
    statuses = " ".join(f"{k}:{v}" for k, v in sorted(s["statuses"].items()))
    errors = f"  errors {s['errors']}" if s["errors"] else ""
    cpu = s.get("cpu_us_per_answer")
    return (f"{name:<26} {s['rps']:>10.1f} {s['p50_ms'] or 0:>8.3f} {s['p99_ms'] or 0:>8.3f}"
            f" {cpu if cpu is not None else '-':>7}  {statuses}{errors}")


if sys.argv[1] == "--line":
    print("  " + line(sys.argv[2], parse(sys.argv[3])))
    sys.exit(0)

results, out = sys.argv[1:3]
facts = json.load(open(os.path.join(results, "facts.json")))
scenarios = {}
by_round = {}
for name in facts["order"]:
    paths = glob.glob(os.path.join(results, f"{name}.*.json"))
    rounds = {int(p.rsplit(".", 2)[1]): parse(p) for p in paths}
    if rounds:
        by_round[name] = {i: r["rps"] for i, r in rounds.items()}
        best = dict(max(rounds.values(), key=lambda r: r["rps"]))
        best["rounds_rps"] = [rounds[i]["rps"] for i in sorted(rounds)]
        cpus = [r["cpu_us_per_answer"] for r in rounds.values() if "cpu_us_per_answer" in r]
        best.pop("cpu_us_per_answer", None)
        if cpus:
            # Sesame's CPU time per answer, the mean over the rounds: what a
            # request costs the server, whatever the generator managed.
            best["cpu_us_per_answer"] = round(sum(cpus) / len(cpus), 1)
        server = server_p99_ms(results, name)
        if server is not None:
            best["server_p99_ms_at_most"] = server
        commits = store_commits(results, name)
        if commits is not None:
            best["store_commits"] = commits
        scenarios[name] = best


def ratio(a, b):
    """a over b. When both ran in the same rounds (interleaved), the mean of
    the ratios within each round, so that a machine slower in one round
    than in another weighs on both sides alike; otherwise best over best."""
    ra, rb = by_round.get(a, {}), by_round.get(b, {})
    paired = [ra[i] / rb[i] for i in sorted(ra) if i in rb and rb[i]]
    if len(ra) > 1 and len(paired) == len(ra):
        return round(sum(paired) / len(paired), 3)
    if a in scenarios and b in scenarios and scenarios[b]["rps"]:
        return round(scenarios[a]["rps"] / scenarios[b]["rps"], 3)
    return None


ratios = {
    "check_vs_ceiling_embedded": ratio("B_check", "A_ceiling"),
    "scoped_check_vs_ceiling_embedded": ratio("C_scoped_check", "A_ceiling"),
    "uc_check_vs_ceiling_embedded": ratio("D_uc_check", "A_ceiling"),
    "check_vs_ceiling_redis": ratio("B_check_redis", "A_ceiling_redis"),
    "scoped_check_vs_ceiling_redis": ratio("C_scoped_check_redis", "A_ceiling_redis"),
    "uc_check_vs_ceiling_redis": ratio("D_uc_check_redis", "A_ceiling_redis"),
    "login_cheap_hash_vs_ceiling": ratio("E_login_cheap_hash", "A_ceiling"),
    "login_default_hash_vs_ceiling": ratio("E_login_default_hash", "A_ceiling"),
    # A login through an sql backend (PostgreSQL on loopback, the same cheap
    # argon2 hash) against the same login from the users file.
    "login_cheap_hash_sql_vs_users_file": ratio("E_login_cheap_hash_sql", "E_login_cheap_hash"),
    "check_100k_vs_10_tokens": ratio("B_check_100k_tokens", "B_check_10_tokens"),
    # The access log's cost to a passing check (log level info, lines to
    # standard error): log.access all and errors (the default) against off.
    "check_log_all_vs_off": ratio("B_check_log_all", "B_check_log_off"),
    "check_log_errors_vs_off": ratio("B_check_log_errors", "B_check_log_off"),
}


def cpu_ratio(a, b):
    """Sesame's CPU time per answer of a over that of b."""
    ca = scenarios.get(a, {}).get("cpu_us_per_answer")
    cb = scenarios.get(b, {}).get("cpu_us_per_answer")
    return round(ca / cb, 2) if ca and cb else None


# How many answers of the ceiling route one answer costs in Sesame's CPU.
cpu_vs_ceiling = {
    "check_embedded": cpu_ratio("B_check", "A_ceiling"),
    "scoped_check_embedded": cpu_ratio("C_scoped_check", "A_ceiling"),
    "uc_check_embedded": cpu_ratio("D_uc_check", "A_ceiling"),
    "login_cheap_hash": cpu_ratio("E_login_cheap_hash", "A_ceiling"),
    "login_default_hash": cpu_ratio("E_login_default_hash", "A_ceiling"),
    "login_cheap_hash_sql": cpu_ratio("E_login_cheap_hash_sql", "A_ceiling"),
    "check_redis": cpu_ratio("B_check_redis", "A_ceiling_redis"),
    "scoped_check_redis": cpu_ratio("C_scoped_check_redis", "A_ceiling_redis"),
    "uc_check_redis": cpu_ratio("D_uc_check_redis", "A_ceiling_redis"),
}
half_closed = scenarios.get("B_check_half_peak_closed", {})
half = scenarios.get("B_check_half_rate", {})
rss = facts.get("rss_mib_100k_tokens")
try:
    scale = json.load(open(os.path.join(results, "scale.json"))) or None
except (OSError, ValueError):
    scale = None
if scale is not None:
    scale["check_vs_10_tokens"] = ratio("B_check_scale", "B_check_10_tokens_scale_twin")
    # Not measured yet: the checks' rate while 500 000 tokens expire at once.
    scale["check_during_purge_vs_before"] = None
propagation_file = os.path.join(results, "propagation.json")
try:
    propagation = json.load(open(propagation_file)) or None
except (OSError, ValueError):
    propagation = None


def target(value, limit, met):
    return {"value": value, "limit": limit, "met": None if value is None else met(value)}


targets = {
    "check_vs_ceiling_embedded": target(ratios["check_vs_ceiling_embedded"], ">= 0.8", lambda v: v >= 0.8),
    "scoped_check_vs_ceiling_embedded": target(ratios["scoped_check_vs_ceiling_embedded"], ">= 0.7",
                                               lambda v: v >= 0.7),
    "check_vs_ceiling_redis": target(ratios["check_vs_ceiling_redis"], ">= 0.85", lambda v: v >= 0.85),
    "scoped_check_vs_ceiling_redis": target(ratios["scoped_check_vs_ceiling_redis"], ">= 0.75",
                                            lambda v: v >= 0.75),
    "revocation_propagation_p99_ms": target((propagation or {}).get("p99"), "< 50", lambda v: v < 50),
    "scale_1m_rss_mib": target((scale or {}).get("rss_mib"), "< 150", lambda v: v < 150),
    "scale_1m_startup_s": target((scale or {}).get("startup_s"), "< 3", lambda v: v < 3),
    "scale_1m_check_vs_10_tokens": target((scale or {}).get("check_vs_10_tokens"), "within 10 %",
                                          lambda v: abs(v - 1) <= 0.1),
    "scale_1m_check_during_purge_vs_before": target(None, "within 20 %", lambda v: abs(v - 1) <= 0.2),
    "check_p99_ms_at_half_peak": target(half_closed.get("p99_ms"), "< 1", lambda v: v < 1.0),
    "check_rps_of_that_run_vs_peak": target(ratio("B_check_half_peak_closed", "B_check"), ">= 0.5",
                                            lambda v: v >= 0.5),
    "check_p99_ms_at_half_peak_open_loop": target(half.get("p99_ms"), "< 1", lambda v: v < 1.0),
    "check_server_p99_ms_at_half_peak": target(half.get("server_p99_ms_at_most"), "< 1",
                                               lambda v: v < 1.0),
    "login_cheap_hash_vs_ceiling": target(ratios["login_cheap_hash_vs_ceiling"], ">= 0.5", lambda v: v >= 0.5),
    "rss_mib_100k_tokens": target(rss, "< 100", lambda v: v < 100),
    "check_100k_vs_10_tokens": target(ratios["check_100k_vs_10_tokens"], "within 10 %",
                                      lambda v: abs(v - 1) <= 0.1),
}
report = {
    "machine": facts["machine"],
    "settings": facts["settings"],
    "scenarios": scenarios,
    "rss_mib_100k_tokens": rss,
    "live_tokens_at_rss": facts.get("live_tokens"),
    "ratios": ratios,
    "cpu_per_answer_vs_ceiling": cpu_vs_ceiling,
    "access_log_bytes_per_check_all": facts.get("access_log_bytes_per_check_all"),
    "revocation_propagation_ms": propagation,
    "scale_1m": scale,
    "targets": targets,
}
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w") as f:
    json.dump(report, f, indent=2)

print(f"{'scenario':<26} {'rps':>10} {'p50 ms':>8} {'p99 ms':>8} {'cpu µs':>7}  answers by status")
for name, s in scenarios.items():
    print(line(name, s))
for name, s in scenarios.items():
    if "server_p99_ms_at_most" in s:
        print(f"{name}: p99 as Sesame timed it (handler in to answer out) <= {s['server_p99_ms_at_most']} ms")
    if "store_commits" in s:
        c = s["store_commits"]
        print(f"{name}: {c['commits']} store commits, {c['operations_per_commit']} tokens each,"
              f" {c['mean_commit_ms']} ms each on average")
print(f"rss with {facts.get('live_tokens')} live tokens: {rss} MiB")
print(f"access log with log.access: all: {facts.get('access_log_bytes_per_check_all')} bytes per check")
for key, value in ratios.items():
    print(f"ratio {key:<34} {value}")
for key, value in cpu_vs_ceiling.items():
    print(f"cpu per answer vs ceiling {key:<24} {value}")
for key, t in targets.items():
    verdict = {True: "met", False: "NOT met", None: "not measured"}[t["met"]]
    print(f"target {key:<33} {t['value']} ({t['limit']}): {verdict}")
print(f"written to {out}")
