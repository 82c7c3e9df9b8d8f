"""Fill the suite's Samba AD domain in one transaction (one samba-tool call
per object is about twenty times slower): the service account Sesame binds
as and holds the HTTP SPN (AES only), users whose UPN and mail differ from
their sAMAccountName, nested groups, and the DC's address in the domain's
DNS zone.

Run with Debian's /usr/bin/python3 (Samba's bindings load only there):
    populate.py SAM_LDB_PATH SMB_CONF SERVICE_PASSWORD USER_PASSWORD HTTP_HOST
"""
import sys

import ldb
from samba.auth import system_session
from samba.dnsserver import ARecord
from samba.ndr import ndr_pack
from samba.param import LoadParm
from samba.samdb import SamDB

sam_path, smb_conf, service_password, user_password, http_host = sys.argv[1:6]
lp = LoadParm()
lp.load(smb_conf)
samdb = SamDB(url=sam_path, session_info=system_session(), lp=lp)
domain_dn = str(samdb.domain_dn())
realm = lp.get("realm").lower()

# name -> (userPrincipalName, mail, given name, surname, OU or None)
USERS = {
    "alice": (f"alice@{realm}", f"alice@{realm}", "Alice", "Liddell", None),
    # UPN and mail in another suffix than the realm: the case the
    # Kerberos directory lookup is for.
    "erin": ("erin@example.test", "erin@example.test", "Erin", "Évrard", "OU=Staff"),
    "bob": (f"bob@{realm}", f"bob@{realm}", "Bob", "Martin", None),
}

samdb.transaction_start()
try:
    samdb.add({"dn": f"OU=Staff,{domain_dn}", "objectClass": "organizationalUnit"})
    # The forest accepts example.test as a UPN suffix, as an AD admin sets
    # it in "Active Directory Domains and Trusts".
    partitions = f"CN=Partitions,{samdb.get_config_basedn()}"
    m = ldb.Message(ldb.Dn(samdb, partitions))
    m["uPNSuffixes"] = ldb.MessageElement(["example.test"], ldb.FLAG_MOD_ADD, "uPNSuffixes")
    samdb.modify(m)
    samdb.newuser("svc-sesame", service_password)
    for name, (upn, mail, given, surname, ou) in USERS.items():
        samdb.newuser(name, user_password, mailaddress=mail, givenname=given,
                      surname=surname, userou=ou)
        # newuser gives NAME@realm; set the UPN the table says.
        dn = samdb.search(base=domain_dn, expression=f"(sAMAccountName={name})", attrs=["dn"])[0].dn
        m = ldb.Message(dn)
        m["userPrincipalName"] = ldb.MessageElement([upn], ldb.FLAG_MOD_REPLACE, "userPrincipalName")
        samdb.modify(m)
    samdb.newgroup("IT staff")
    samdb.newgroup("UC admins")
    samdb.newgroup("Sales")
    samdb.add_remove_group_members("IT staff", ["alice", "erin"], add_members_operation=True)
    # Nested: UC admins holds the group IT staff, not its users.
    samdb.add_remove_group_members("UC admins", ["IT staff"], add_members_operation=True)
    samdb.add_remove_group_members("Sales", ["bob"], add_members_operation=True)
    # The HTTP service principal on the service account, AES only (0x18):
    # an account left at its defaults gets an RC4 keytab and RC4 tickets.
    svc = samdb.search(base=domain_dn, expression="(sAMAccountName=svc-sesame)", attrs=["dn"])[0].dn
    m = ldb.Message(svc)
    m["servicePrincipalName"] = ldb.MessageElement(
        [f"HTTP/{http_host}"], ldb.FLAG_MOD_ADD, "servicePrincipalName")
    m["msDS-SupportedEncryptionTypes"] = ldb.MessageElement(
        ["24"], ldb.FLAG_MOD_REPLACE, "msDS-SupportedEncryptionTypes")
    samdb.modify(m)
    # The provision leaves a loopback host address out of DNS; a real DC has
    # its A record, which the _ldap._tcp SRV record's target needs.
    zone = f"DC={realm},CN=MicrosoftDNS,DC=DomainDnsZones,{domain_dn}"
    samdb.add({"dn": f"DC=dc1,{zone}", "objectClass": "dnsNode",
               "dnsRecord": [ndr_pack(ARecord("127.0.0.1"))]})
except Exception:
    samdb.transaction_cancel()
    raise
samdb.transaction_commit()
print("populated", domain_dn)
