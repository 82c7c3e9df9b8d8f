"""How a service checks a Sesame token (and optionally an ACL) before serving
a request: HEAD /0.1/token/{token}?scope=ACL. Standard library only.

Usage: validate_token.py BASE_URL TOKEN [ACL]   (SESAME_CA=ca.pem to trust
Sesame's certificate). Exit status 0: valid (and grants ACL); 1: not valid;
2: Sesame unavailable (answer 503 to your own client, not 401).
"""
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request


def check(base: str, token: str, acl: str | None = None) -> str:
    url = f"{base.rstrip('/')}/0.1/token/{urllib.parse.quote(token, safe='')}"
    if acl:
        url += "?" + urllib.parse.urlencode({"scope": acl})
    context = ssl.create_default_context(cafile=os.environ.get("SESAME_CA"))
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=3, context=context) as answer:
            return "valid" if answer.status == 204 else "unavailable"
    except urllib.error.HTTPError as e:
        # 404: unknown, expired or revoked; 403: valid but without that ACL.
        return "invalid" if 400 <= e.code < 500 else "unavailable"
    except OSError:
        return "unavailable"


if __name__ == "__main__":
    verdict = check(*sys.argv[1:4])
    print(verdict)
    sys.exit({"valid": 0, "invalid": 1}.get(verdict, 2))
