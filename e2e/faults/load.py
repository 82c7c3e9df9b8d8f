"""Steady login + check load on one Sesame, for the faults suite.

Each worker loops for DURATION seconds: POST /0.1/token (alice, xivo_user),
then HEAD /0.1/token/{t} on the token it got last. Every answer is written
as a JSON line to OUT: {"at": when it was sent (Unix time), "op": "create"|"check",
"status": HTTP status or 0 for a connection failure, "elapsed": seconds,
"token": the token of a 200 create}. Python standard library only.

Usage: load.py BASE_URL DURATION OUT [WORKERS]
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
    token = None
    body = json.dumps({"backend": "xivo_user", "expiration": 3600}).encode()
    headers = {"Authorization": AUTH, "Content-Type": "application/json"}
    while time.monotonic() - START < DURATION:
        at = time.time()
        status, payload, elapsed = call("POST", "/0.1/token", body, headers)
        event = {"at": at, "op": "create", "status": status, "elapsed": round(elapsed, 3)}
        if status == 200:
            token = json.loads(payload)["data"]["token"]
            event["token"] = token
        record(**event)
        if status == 0:
            time.sleep(0.05)
        if token:
            at = time.time()
            status, _, elapsed = call("HEAD", "/0.1/token/" + token)
            record(at=at, op="check", status=status, elapsed=round(elapsed, 3))


threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
for th in threads:
    th.start()
for th in threads:
    th.join()
