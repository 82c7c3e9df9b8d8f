"""The websession suite's stand-in web application (the "webi"): a login
that sets a session cookie, a logout, the session endpoint Sesame asks
(`/api/session`), a page whose script trades the cookie for a Sesame token
and calls a protected API with it, and that API, which checks its ACL with
Sesame (`HEAD /0.1/token/{t}?scope=`).

Usage: webapp.py PORT SESAME_URL
"""

import json
import secrets
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlparse

PORT, SESAME = int(sys.argv[1]), sys.argv[2]
COOKIE = "webi_session"
PEOPLE = {
    "admin": {"permissions": {"service": {"ipbx": {
        "users": True, "general_settings": {"sip": True}, "lines": False}}}, "superuser": False},
    "viewer": {"permissions": {}, "superuser": False},
    "root": {"permissions": ["service.ipbx.users"], "superuser": True},
}
SESSIONS = {}
PAGE = """<!doctype html><title>webi</title>
<p>token status <span id="status"></span>, API status <span id="api"></span></p>
<pre id="token"></pre>
<script>
(async () => {
  const r = await fetch('/sesame/xuc/api/2.0/auth/websession', {method: 'POST', credentials: 'same-origin'});
  const body = await r.json();
  document.getElementById('status').textContent = r.status;
  if (r.ok) {
    document.getElementById('token').textContent = body.token;
    const api = await fetch('/api/protected', {headers: {'X-Auth-Token': body.token}});
    document.getElementById('api').textContent = api.status;
  }
  document.body.dataset.done = '1';
})();
</script>"""


class Webi(BaseHTTPRequestHandler):
    def session(self):
        for part in self.headers.get("Cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and value in SESSIONS:
                return SESSIONS[value]
        return None

    def answer(self, status, body=b"", kind="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/login":
            user = parse_qs(url.query).get("user", [""])[0]
            if user not in PEOPLE:
                return self.answer(403, b'{"error": "unknown user"}')
            sid = secrets.token_urlsafe(24)
            SESSIONS[sid] = user
            return self.answer(302, headers=[("Set-Cookie", f"{COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax"),
                                             ("Location", "/app")])
        if url.path == "/logout":
            for part in self.headers.get("Cookie", "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == COOKIE:
                    SESSIONS.pop(value, None)
            return self.answer(200, b'{"message": "logged out"}')
        if url.path == "/api/session":
            user = self.session()
            if user is None:
                return self.answer(401, b'{"error": "no session"}')
            return self.answer(200, json.dumps({"login": user, **PEOPLE[user]}).encode())
        if url.path == "/app":
            return self.answer(200, PAGE.encode(), "text/html")
        if url.path == "/api/protected":
            token = self.headers.get("X-Auth-Token", "")
            check = urllib.request.Request(
                f"{SESAME}/0.1/token/{quote(token, safe='')}?scope=confd.users.read", method="HEAD")
            try:
                status = urllib.request.urlopen(check, timeout=5).status
            except urllib.error.HTTPError as e:
                status = e.code
            return self.answer(200 if status == 204 else 403 if status == 403 else 401,
                               json.dumps({"sesame": status}).encode())
        return self.answer(404, b'{"error": "not found"}')

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Webi).serve_forever()
