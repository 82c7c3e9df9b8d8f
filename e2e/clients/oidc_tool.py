"""The oidc suite's helper: signing keys for the provider, the code flow
driven over HTTP (no browser) to get real tokens, and hand-made tokens for
the negative checks.

  oidc_tool.py keys DIR                      jwks-1.json, jwks-2.json, jwks-3.json (private JWKS)
  oidc_tool.py flow ISSUER REDIRECT USER     {"id_token", "access_token"} from the provider
  oidc_tool.py mint JWKS ISSUER KIND [SUB]   a token signed with the JWKS's key, spoiled as KIND says:
      good | expired | wrong-aud | future-iat | tampered | alg-none | hs256-public-key | no-username
"""

import base64
import hashlib
import hmac
import json
import re
import secrets
import sys
import time
from urllib.parse import parse_qs, urljoin, urlparse

import requests
from joserfc import jwk, jwt


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def keys(directory):
    for n in (1, 2, 3):
        key = jwk.RSAKey.generate_key(2048, parameters={"kid": f"e2e-key-{n}", "use": "sig", "alg": "RS256"}, private=True)
        with open(f"{directory}/jwks-{n}.json", "w") as f:
            json.dump({"keys": [key.as_dict(private=True)]}, f)


def flow(issuer, redirect, user):
    session = requests.Session()
    verifier = b64url(secrets.token_bytes(32))
    challenge = b64url(hashlib.sha256(verifier.encode()).digest())
    params = {
        "client_id": "sesame", "response_type": "code", "scope": "openid profile email",
        "redirect_uri": redirect, "state": b64url(secrets.token_bytes(8)), "nonce": b64url(secrets.token_bytes(8)),
        "code_challenge": challenge, "code_challenge_method": "S256",
    }
    response = session.get(f"{issuer}/auth", params=params, allow_redirects=False, timeout=10)
    for _ in range(12):
        if response.status_code in (302, 303):
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(redirect):
                query = parse_qs(urlparse(location).query)
                if "code" not in query:
                    raise SystemExit(f"the provider refused: {query}")
                code = query["code"][0]
                break
            response = session.get(location, allow_redirects=False, timeout=10)
            continue
        page = response.text
        action = urljoin(response.url, re.search(r'<form[^>]*action="([^"]+)"', page).group(1))
        fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page))
        if 'name="login"' in page:
            fields.update({"login": user, "password": "any"})
        response = session.post(action, data=fields, allow_redirects=False, timeout=10)
    else:
        raise SystemExit("the code flow did not end")
    tokens = requests.post(
        f"{issuer}/token", auth=("sesame", "sesame-secret"), timeout=10,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "code_verifier": verifier},
    ).json()
    print(json.dumps({"id_token": tokens["id_token"], "access_token": tokens["access_token"]}))


def mint(jwks_file, issuer, kind, sub="alice"):
    private = json.load(open(jwks_file))["keys"][0]
    key = jwk.import_key(private)
    now = int(time.time())
    claims = {"iss": issuer, "aud": "sesame", "sub": sub, "preferred_username": sub, "iat": now, "exp": now + 300}
    if kind == "expired":
        claims.update(iat=now - 3600, exp=now - 600)
    elif kind == "wrong-aud":
        claims["aud"] = "someone-else"
    elif kind == "future-iat":
        claims.update(iat=now + 3600, exp=now + 7200)
    elif kind == "no-username":
        del claims["preferred_username"]
    header = {"alg": "RS256", "kid": private["kid"]}
    if kind == "alg-none":
        print(f'{b64url(json.dumps({"alg": "none", "kid": private["kid"]}).encode())}.{b64url(json.dumps(claims).encode())}.')
        return
    if kind == "hs256-public-key":
        public_pem = key.as_pem(private=False)
        signing_input = f'{b64url(json.dumps({"alg": "HS256", "kid": private["kid"]}).encode())}.{b64url(json.dumps(claims).encode())}'
        signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
        print(f"{signing_input}.{b64url(signature)}")
        return
    token = jwt.encode(header, claims, key)
    if kind == "tampered":
        head, payload, signature = token.split(".")
        claims["preferred_username"] = "admin"
        token = f"{head}.{b64url(json.dumps(claims).encode())}.{signature}"
    print(token)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"keys": keys, "flow": flow, "mint": mint}[command](*args)
