"""Print the base64 token a Kerberos client would send in
`Authorization: Negotiate` for a service, without sending it, so that the
e2e suite can replay it, send it late, or send it to another service.

Usage: negotiate_token.py HOST [spnego|krb5]   (service HTTP@HOST)
Runs with Debian's /usr/bin/python3 and python3-gssapi; the ticket cache
and krb5.conf come from KRB5CCNAME and KRB5_CONFIG.
"""
import base64
import sys

import gssapi

MECHS = {
    "spnego": gssapi.OID.from_int_seq("1.3.6.1.5.5.2"),
    "krb5": gssapi.OID.from_int_seq("1.2.840.113554.1.2.2"),
}


def main() -> int:
    host = sys.argv[1]
    mech = MECHS[sys.argv[2] if len(sys.argv) > 2 else "spnego"]
    service = gssapi.Name(f"HTTP@{host}", gssapi.NameType.hostbased_service)
    ctx = gssapi.SecurityContext(name=service, usage="initiate", mech=mech)
    print(base64.b64encode(ctx.step()).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
