"""Read the wrk outputs of one bench/run and write the report: one line per
scenario and per ratio on stdout, the same as JSON in target/bench/latest.json.

Usage: report.py RESULTS_DIR OUT_JSON
RESULTS_DIR holds NAME.wrk files (wrk --latency output) and facts.json.
"""

import json
import os
import re
import sys

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse(text):
    def latency(pct):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        return round(float(m.group(1)) * UNITS[m.group(2)], 3) if m else None

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    total = int(re.search(r"(\d+) requests in", text).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    return {
        "rps": round(rps, 1),
        "p50_ms": latency(50),
        "p99_ms": latency(99),
        "requests": total,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1).strip() if errors else None,
    }


results, out = sys.argv[1:3]
facts = json.load(open(os.path.join(results, "facts.json")))
scenarios = {}
for name in facts["order"]:
    path = os.path.join(results, f"{name}.wrk")
    if os.path.exists(path):
        scenarios[name] = parse(open(path).read())


def ratio(a, b):
    if a in scenarios and b in scenarios and scenarios[b]["rps"]:
        return round(scenarios[a]["rps"] / scenarios[b]["rps"], 3)
    return None


ratios = {
    "check_vs_ceiling_embedded": ratio("B_check", "A_ceiling"),
    "scoped_check_vs_ceiling_embedded": ratio("C_scoped_check", "A_ceiling"),
    "uc_check_vs_ceiling_embedded": ratio("D_uc_check", "A_ceiling"),
    "check_vs_ceiling_redis": ratio("B_check_redis", "A_ceiling"),
    "scoped_check_vs_ceiling_redis": ratio("C_scoped_check_redis", "A_ceiling"),
    "uc_check_vs_ceiling_redis": ratio("D_uc_check_redis", "A_ceiling"),
    "login_cheap_hash_vs_ceiling": ratio("E_login_cheap_hash", "A_ceiling"),
    "login_default_hash_vs_ceiling": ratio("E_login_default_hash", "A_ceiling"),
    "check_100k_vs_10_tokens": ratio("B_check_100k_tokens", "B_check"),
}
report = {
    "machine": facts["machine"],
    "settings": facts["settings"],
    "scenarios": scenarios,
    "rss_mib_100k_tokens": facts.get("rss_mib_100k_tokens"),
    "live_tokens_at_rss": facts.get("live_tokens"),
    "ratios": ratios,
}
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w") as f:
    json.dump(report, f, indent=2)

print(f"{'scenario':<26} {'rps':>10} {'p50 ms':>8} {'p99 ms':>8}  non-2xx")
for name, s in scenarios.items():
    print(f"{name:<26} {s['rps']:>10.1f} {s['p50_ms'] or 0:>8.3f} {s['p99_ms'] or 0:>8.3f}  {s['non_2xx']}")
print(f"rss with {facts.get('live_tokens')} live tokens: {facts.get('rss_mib_100k_tokens')} MiB")
for key, value in ratios.items():
    print(f"ratio {key:<34} {value}")
print(f"written to {out}")
