"""The gateway suite's OAuth 2.0 client side, with Authlib (a generic
client library, not hand-built requests): introspection, token exchange and
revocation against Sesame. Prints one `PASS description` or `FAIL description`
line per check; the shell suite counts them.

Usage: oauth_client.py SESAME_URL NGINX_URL SUBJECT_TOKEN
"""

import sys

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.base_client.errors import OAuthError

sesame, nginx, subject = sys.argv[1:4]
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"


def check(description, condition, detail=""):
    print(("PASS " if condition else "FAIL ") + description + ("" if condition else f" ({detail})"), flush=True)


meta = requests.get(f"{sesame}/.well-known/oauth-authorization-server", timeout=5).json()
check("metadata lists the introspection endpoint", meta.get("introspection_endpoint", "").endswith("/oauth2/introspect"), meta)

# The web-service account authenticates with client_secret_basic.
client = OAuth2Session(client_id="ws", client_secret="ws-secret", token_endpoint_auth_method="client_secret_basic")

answer = client.introspect_token(meta["introspection_endpoint"], token=subject).json()
check("introspection: the user's token is active", answer.get("active") is True, answer)
check("introspection: scope holds the ACLs", "confd.users.me.read" in answer.get("scope", "").split(), answer)
check("introspection: sub is the user's UUID", answer.get("sub") == "63f3dc3c-865d-419e-bec2-e18c4b118224", answer)

bad = OAuth2Session(client_id="ws", client_secret="wrong", token_endpoint_auth_method="client_secret_basic")
response = bad.introspect_token(meta["introspection_endpoint"], token=subject)
check("introspection with a wrong client secret: 401", response.status_code == 401, response.status_code)

# Token exchange: a down-scoped token for the same user.
token = client.fetch_token(
    meta["token_endpoint"],
    grant_type=EXCHANGE,
    subject_token=subject,
    subject_token_type=ACCESS,
    scope="confd.users.me.read",
)
narrow = token["access_token"]
check("exchange: a new Bearer token with the requested scope", token.get("token_type") == "Bearer" and token.get("scope") == "confd.users.me.read", token)
status = requests.get(f"{nginx}/api/confd/users/me", headers={"Authorization": f"Bearer {narrow}"}, timeout=5).status_code
check("exchange: the narrow token passes nginx where its ACL suffices", status == 200, status)
status = requests.get(f"{nginx}/api/dird/phonebook", headers={"Authorization": f"Bearer {narrow}"}, timeout=5).status_code
check("exchange: the narrow token is refused where it no longer suffices", status == 403, status)
status = requests.get(f"{nginx}/api/dird/phonebook", headers={"Authorization": f"Bearer {subject}"}, timeout=5).status_code
check("exchange: the subject token keeps its own ACLs", status == 200, status)

try:
    client.fetch_token(meta["token_endpoint"], grant_type=EXCHANGE, subject_token=subject, subject_token_type=ACCESS, scope="confd.users.delete")
    check("exchange: a wider scope is refused", False, "no error")
except OAuthError as e:
    check("exchange: a wider scope is refused with invalid_scope", e.error == "invalid_scope", e.error)

# Revocation, then both introspection and nginx refuse the token.
response = client.revoke_token(meta["revocation_endpoint"], token=narrow)
check("revocation answers 200", response.status_code == 200, response.status_code)
answer = client.introspect_token(meta["introspection_endpoint"], token=narrow).json()
check("introspection: the revoked token is inactive", answer == {"active": False}, answer)
status = requests.get(f"{nginx}/api/confd/users/me", headers={"Authorization": f"Bearer {narrow}"}, timeout=5).status_code
check("nginx refuses the revoked token: 401", status == 401, status)
