"""The cas suite's scripted CAS login: signs in on the CAS login page over
HTTP (the form, its CSRF token and login ticket) and prints the service
ticket the CAS server redirects to the service with.

Usage: cas_tool.py CAS_URL SERVICE USER PASSWORD
"""

import re
import sys
from urllib.parse import parse_qs, urlparse

import requests

cas, service, user, password = sys.argv[1:5]
session = requests.Session()
login = f"{cas}/login"
page = session.get(login, params={"service": service}, timeout=10)
fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page.text))
fields.update({"username": user, "password": password})
answer = session.post(page.url, data=fields, headers={"Referer": page.url}, allow_redirects=False, timeout=10)
location = answer.headers.get("Location", "")
ticket = parse_qs(urlparse(location).query).get("ticket")
if not ticket:
    raise SystemExit(f"no ticket (HTTP {answer.status_code}, Location {location!r})")
print(ticket[0])
