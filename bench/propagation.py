"""Revocation propagation between two Sesame instances on one Redis: for
each sample, a token is made on instance 1 and checked on instance 2 (so
that instance 2 has it cached), then revoked on instance 1; the time from
the revocation's answer to the first refused check on instance 2 (polled
over one keep-alive connection) is one sample. Prints a JSON object with
p50, p99 and max in ms, and the sample count.

Usage: propagation.py PORT1 PORT2 LOGIN PASSWORD SAMPLES
"""
import base64
import http.client
import json
import sys
import time

port1, port2, login, password, samples = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
auth = "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()
one = http.client.HTTPConnection("127.0.0.1", int(port1), timeout=10)
two = http.client.HTTPConnection("127.0.0.1", int(port2), timeout=10)


def ask(conn, method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    answer = conn.getresponse()
    return answer.status, answer.read()


times = []
body = json.dumps({"backend": "xivo_user", "expiration": 600})
deadline = time.monotonic() + 60
for _ in range(samples):
    if time.monotonic() > deadline:
        break
    status, payload = ask(one, "POST", "/0.1/token", body,
                          {"Authorization": auth, "Content-Type": "application/json"})
    if status != 200:
        sys.exit(f"login on instance 1: {status}")
    token = json.loads(payload)["data"]["token"]
    for _ in range(2):
        status, _ = ask(two, "HEAD", "/0.1/token/" + token)
        if status != 204:
            sys.exit(f"check on instance 2 before the revocation: {status}")
    status, _ = ask(one, "DELETE", "/0.1/token/" + token)
    if status != 200:
        sys.exit(f"revocation on instance 1: {status}")
    revoked = time.perf_counter()
    while True:
        status, _ = ask(two, "HEAD", "/0.1/token/" + token)
        if status == 404:
            times.append((time.perf_counter() - revoked) * 1000)
            break
        if time.perf_counter() - revoked > 5:
            sys.exit("instance 2 still accepts a token revoked 5 s ago")

times.sort()
pick = lambda q: round(times[min(len(times) - 1, int(q * len(times)))], 3)
print(json.dumps({"p50": pick(0.5), "p99": pick(0.99), "max": round(times[-1], 3), "samples": len(times)}))
