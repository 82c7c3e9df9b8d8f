"""Summaries of a load.py log, printed for the faults suite's checks.

Usage: report.py LOG QUESTION [ARG]
  statuses OP FROM TO   sorted distinct statuses of OP sent in [FROM, TO) (Unix times)
  answered OP FROM TO   the same for the answers received in [FROM, TO): a
                        request sent just before Redis returns may be
                        answered after it did
  max-elapsed           the slowest answer, in seconds
  first-ok-after T      seconds after T (Unix time) of the first 200 create (or "never")
  tokens                every token of a 200 create, one a line
  count OP STATUS       how many OP answers had STATUS
  verify BASE_URL       "VALID INVALID": HEAD /0.1/token/{t} for every token
                        of a 200 create (INVALID lists the other statuses)
"""
import json
import sys
import urllib.error
import urllib.request

events = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
question, args = sys.argv[2], sys.argv[3:]
if question == "statuses":
    op, lo, hi = args[0], float(args[1]), float(args[2])
    print(" ".join(str(s) for s in sorted({e["status"] for e in events if e["op"] == op and lo <= e["at"] < hi})))
elif question == "answered":
    op, lo, hi = args[0], float(args[1]), float(args[2])
    print(" ".join(str(s) for s in sorted({e["status"] for e in events if e["op"] == op and lo <= e["at"] + e["elapsed"] < hi})))
elif question == "max-elapsed":
    print(max(e["elapsed"] for e in events))
elif question == "first-ok-after":
    t = float(args[0])
    oks = [e["at"] for e in events if e["op"] == "create" and e["status"] == 200 and e["at"] >= t]
    print(round(min(oks) - t, 1) if oks else "never")
elif question == "tokens":
    for e in events:
        if e.get("token"):
            print(e["token"])
elif question == "count":
    print(sum(1 for e in events if e["op"] == args[0] and e["status"] == int(args[1])))
elif question == "verify":
    valid, invalid = 0, []
    for e in events:
        if not e.get("token"):
            continue
        req = urllib.request.Request(f"{args[0]}/0.1/token/{e['token']}", method="HEAD")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status = r.status
        except urllib.error.HTTPError as err:
            status = err.code
        except OSError:
            status = 0
        if status == 204:
            valid += 1
        else:
            invalid.append(status)
    print(valid, len(invalid), " ".join(str(s) for s in sorted(set(invalid))))
else:
    sys.exit(f"unknown question {question}")
