"""After the load: every token whose login was answered 200 and that was
not revoked must be valid on every instance; every token whose revocation
was answered 200 must be refused on every instance. A token with a
revocation that was not answered 200 is left out (it may be either).

Prints one JSON object: the counts, and a few examples of each fault.
Usage: verify.py LOAD_OUT BASE_URL [BASE_URL...]
"""
import json
import sys
import urllib.error
import urllib.request

events = [json.loads(line) for line in open(sys.argv[1])]
bases = sys.argv[2:]
acked = [e["token"] for e in events if e["op"] == "create" and e["status"] == 200]
revoked = {e["revoked"] for e in events if e["op"] == "revoke" and e["status"] == 200}
unsure = {e["revoked"] for e in events if e["op"] == "revoke" and e["status"] != 200}
live = [t for t in acked if t not in revoked and t not in unsure]


def status_of(base, token):
    req = urllib.request.Request(base + "/0.1/token/" + token, method="HEAD")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


lost, resurrected, unanswered = [], [], []
for base in bases:
    for token in live:
        status = status_of(base, token)
        if status != 204:
            (unanswered if status in (0, 503) else lost).append((base, token[:8], status))
    for token in revoked:
        status = status_of(base, token)
        if status != 404:
            (unanswered if status in (0, 503) else resurrected).append((base, token[:8], status))

by_status = {}
for e in events:
    key = f'{e["op"]} {e["status"]}'
    by_status[key] = by_status.get(key, 0) + 1
print(json.dumps({
    "acked": len(acked), "live": len(live), "revoked": len(revoked),
    "lost": len(lost), "resurrected": len(resurrected), "unanswered": len(unanswered),
    "answers": by_status,
    "examples": {"lost": lost[:3], "resurrected": resurrected[:3], "unanswered": unanswered[:3]},
}))
