"""Steady login + check (+ revocation) load on a Sesame, for the faults
and cluster suites.

Each worker loops for DURATION seconds: POST /0.1/token (alice, xivo_user),
then HEAD /0.1/token/{t} on the token it got last; with REVOKE_EVERY n > 0,
DELETE /0.1/token/{t} of every n-th token it got. Every answer is written
as a JSON line to OUT: {"at": when it was sent (Unix time), "op":
"create"|"check"|"revoke", "status": HTTP status or 0 for a connection
failure, "elapsed": seconds, "token": the token of a 200 create, "revoked":
the token a revoke was for}. Python standard library only.

Usage: load.py BASE_URL DURATION OUT [WORKERS] [REVOKE_EVERY]
"""
import base64
import json
import sys
import threading
import time
import urllib.error
import urllib.request

BASE, DURATION, OUT = sys.argv[1], float(sys.argv[2]), sys.argv[3]
WORKERS = int(sys.argv[4]) if len(sys.argv) > 4 else 4
REVOKE_EVERY = int(sys.argv[5]) if len(sys.argv) > 5 else 0
AUTH = "Basic " + base64.b64encode(b"alice:s3cre7").decode()
START = time.monotonic()
lock = threading.Lock()
out = open(OUT, "w", buffering=1)


def call(method, path, body=None, headers=None):
    req = urllib.request.Request(BASE + path, data=body, method=method, headers=headers or {})
    began = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, payload = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    except OSError:
        status, payload = 0, b""
    return status, payload, time.monotonic() - began


def record(**event):
    with lock:
        out.write(json.dumps(event) + "\n")


def worker():
    token, made = None, 0
    body = json.dumps({"backend": "xivo_user", "expiration": 3600}).encode()
    headers = {"Authorization": AUTH, "Content-Type": "application/json"}
    while time.monotonic() - START < DURATION:
        at = time.time()
        status, payload, elapsed = call("POST", "/0.1/token", body, headers)
        event = {"at": at, "op": "create", "status": status, "elapsed": round(elapsed, 3)}
        if status == 200:
            token = json.loads(payload)["data"]["token"]
            event["token"] = token
            made += 1
        record(**event)
        if status in (0, 503):
            time.sleep(0.05)
        if token:
            at = time.time()
            status, _, elapsed = call("HEAD", "/0.1/token/" + token)
            record(at=at, op="check", status=status, elapsed=round(elapsed, 3))
        if REVOKE_EVERY and token and event.get("token") == token and made % REVOKE_EVERY == 0:
            at = time.time()
            status, _, elapsed = call("DELETE", "/0.1/token/" + token)
            record(at=at, op="revoke", status=status, elapsed=round(elapsed, 3), revoked=token)
            token = None


threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
for th in threads:
    th.start()
for th in threads:
    th.join()
