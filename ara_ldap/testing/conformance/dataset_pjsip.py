"""The PJSIP (sorcery) part of the conformance data set: the ``ps_*`` families.

Kept apart from :mod:`.dataset` because its shape follows pjsip.md, not the classic
realtime tables: every family is keyed on ``id``, values are what sorcery writes (§1.2),
and the records are chosen so that each request shape of §2.4 has an answer a careless
backend would get wrong.  Only standard columns (``ara_ldap/pjsip_columns.py``) are used,
so the same records load into the LDAP maps and the standard SQL tables.

``ps_endpoints``::

    id                context        aors   auth   allow (order kept)  also
    1001              from-internal  1001   1001   ulaw, g722, alaw    mailboxes, callerid,
                                                                       set_var x2 (one has ';')
    1002              from-internal  1002   1002   alaw                mailboxes loaded empty
    3000@example.org  from-internal  3000   3000   ulaw                (user@domain form)
    trunk             from-trunk     trunk  -      alaw, ulaw          identify_by ip
    a_b, axb          default        a_b / axb                         (sorcery's '_' is literal)

``ps_auths``: ``1001`` userpass, password with ``;``; ``1002`` md5 (``md5_cred``);
``3000`` userpass.  ``ps_aors``: ``1001`` (max_contacts 2, mailboxes), ``1002``,
``3000``, ``trunk`` (two static contacts, order kept), ``a_b``, ``axb``.

``ps_contacts`` (id ``<aor>;@<md5 of the uri>``; expiration times of different digit
counts, so a string comparison gives the wrong rows)::

    aor   expiration_time   user_agent / path / uri hold ';'
    1001  1700000000
    1001  999999999
    1002  80
    a_b   2000000000
    axb   1000000001

``ps_domain_aliases``: ``example.net`` -> ``example.org``.  ``ps_endpoint_id_ips``:
``trunk-a`` (two ``match`` values, order kept) and ``trunk-b`` for endpoint ``trunk``;
``phone-1002`` for ``1002``.  Long tail: ``ps_registrations`` ``trunk-out`` (a
``server_uri`` with ``;``) and ``ps_globals`` ``global``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ara_ldap.record import Record

__all__ = [
    "EXPIRY_CUTOFF",
    "PJSIP_FAMILIES",
    "PJSIP_KEYS",
    "PJSIP_RECORDS",
    "contact_id",
    "pjsip_record",
]

FieldValue = str | Sequence[str]


def pjsip_record(**fields: FieldValue) -> Record:
    """A record from keyword fields; a list value becomes repeated fields, in order."""
    return Record.from_mapping(fields)


def contact_id(aor: str, uri: str) -> str:
    """The id sorcery gives a dynamic contact: ``<aor>;@<md5 hex of the uri>``."""
    return f"{aor};@{hashlib.md5(uri.encode()).hexdigest()}"


#: The md5 part of the ids :func:`sorcery_contact` gives (a fixed one, so tests can name DNs).
CONTACT_DIGEST = "0123456789abcdef0123456789abcdef"


def sorcery_contact(
    aor: str, expires: str = "1764153600", digest: str = CONTACT_DIGEST
) -> list[tuple[str, str]]:
    """A contact ``store`` body (``id`` = ``<aor>;@<digest>`` first) in the order Asterisk
    20.20.1 sends it (pjsip.md §6), empty values included."""
    return [
        ("id", f"{aor};@{digest}"),
        ("via_addr", "192.0.2.10"),
        ("qualify_timeout", "3.000000"),
        ("qualify_2xx_only", "false"),
        ("call_id", "a84b4c76e66710"),
        ("reg_server", ""),
        ("prune_on_boot", "no"),
        ("path", ""),
        ("endpoint", aor),
        ("via_port", "5060"),
        ("authenticate_qualify", "no"),
        ("uri", f"sip:{aor}@192.0.2.10:5060;transport=udp;rinstance=x;ob"),
        ("qualify_frequency", "0"),
        ("user_agent", "Phone/1.0 (X11; Linux x86_64)"),
        ("expiration_time", expires),
        ("outbound_proxy", ""),
    ]


#: ``expiration_time <= EXPIRY_CUTOFF`` numerically matches the contacts expiring at 80
#: and 999999999; as strings it would match none of them (and would match nothing else).
EXPIRY_CUTOFF = "1000000000"


def _endpoints() -> tuple[Record, ...]:
    return (
        pjsip_record(
            id="1001",
            transport="transport-udp",
            context="from-internal",
            aors="1001",
            auth="1001",
            allow=["ulaw", "g722", "alaw"],
            set_var=["TENANT=example;eu", "CALLCLASS=internal"],
            mailboxes="1001@default",
            callerid='"Alice Example" <1001>',
            direct_media="no",
            rtp_timeout="30",
        ),
        pjsip_record(
            id="1002",
            transport="transport-udp",
            context="from-internal",
            aors="1002",
            auth="1002",
            allow=["alaw"],
            mailboxes="",
        ),
        pjsip_record(
            id="3000@example.org",
            context="from-internal",
            aors="3000",
            auth="3000",
            allow=["ulaw"],
        ),
        pjsip_record(
            id="trunk",
            context="from-trunk",
            aors="trunk",
            allow=["alaw", "ulaw"],
            identify_by="ip",
        ),
        pjsip_record(id="a_b", context="default", aors="a_b"),
        pjsip_record(id="axb", context="default", aors="axb"),
    )


def _auths() -> tuple[Record, ...]:
    return (
        pjsip_record(id="1001", auth_type="userpass", username="1001", password="s3cr;et"),
        pjsip_record(
            id="1002",
            auth_type="md5",
            username="1002",
            realm="asterisk",
            md5_cred="3b1f2ad6f2e3d4c5b6a7980112233445",
        ),
        pjsip_record(id="3000", auth_type="userpass", username="3000", password="fake-3000"),
    )


def _aors() -> tuple[Record, ...]:
    return (
        pjsip_record(
            id="1001",
            max_contacts="2",
            minimum_expiration="60",
            mailboxes="1001@default",
            qualify_frequency="0",
        ),
        pjsip_record(id="1002", max_contacts="1", remove_existing="yes"),
        pjsip_record(id="3000", max_contacts="1"),
        pjsip_record(
            id="trunk",
            contact=["sip:198.51.100.8:5060;transport=tcp", "sip:198.51.100.7:5060"],
            qualify_frequency="60",
        ),
        pjsip_record(id="a_b", max_contacts="1"),
        pjsip_record(id="axb", max_contacts="1"),
    )


#: (aor, uri, expiration_time, endpoint) of each loaded contact.
CONTACTS: tuple[tuple[str, str, str, str], ...] = (
    ("1001", "sip:1001@192.0.2.10:5060;transport=udp;rinstance=aa11;ob", "1700000000", "1001"),
    ("1001", "sip:1001@192.0.2.11:5062;transport=udp;rinstance=bb22", "999999999", "1001"),
    ("1002", "sip:1002@192.0.2.12:5060", "80", "1002"),
    ("a_b", "sip:a_b@192.0.2.13:5060", "2000000000", "a_b"),
    ("axb", "sip:axb@192.0.2.14:5060", "1000000001", "axb"),
)


def _contacts() -> tuple[Record, ...]:
    out = []
    for n, (aor, uri, expires, endpoint) in enumerate(CONTACTS):
        out.append(
            pjsip_record(
                id=contact_id(aor, uri),
                uri=uri,
                endpoint=endpoint,
                expiration_time=expires,
                via_addr=f"192.0.2.{10 + n}",
                via_port="5060",
                call_id=f"call-{n}@192.0.2.{10 + n}",
                user_agent="Linphone/5.2 (X11; Linux x86_64) belle-sip/5.2",
                path="<sip:edge.example.com;lr>" if n == 0 else "",
                qualify_frequency="0",
                prune_on_boot="no",
                authenticate_qualify="no",
                qualify_2xx_only="false",
                reg_server="",
                outbound_proxy="",
            )
        )
    return tuple(out)


def _domain_aliases() -> tuple[Record, ...]:
    return (pjsip_record(id="example.net", domain="example.org"),)


def _identifies() -> tuple[Record, ...]:
    return (
        pjsip_record(id="trunk-a", endpoint="trunk", match=["198.51.100.7", "198.51.100.0/24"]),
        pjsip_record(id="trunk-b", endpoint="trunk", match_header="X-Trunk: b"),
        pjsip_record(id="phone-1002", endpoint="1002", match=["192.0.2.99"]),
    )


def _registrations() -> tuple[Record, ...]:
    return (
        pjsip_record(
            id="trunk-out",
            server_uri="sip:reg.example.net;transport=tcp",
            client_uri="sip:4420001@reg.example.net",
            outbound_auth="trunk-auth",
            endpoint="trunk",
            expiration="3600",
            retry_interval="60",
            line="yes",
        ),
    )


def _globals() -> tuple[Record, ...]:
    return (
        pjsip_record(
            id="global",
            endpoint_identifier_order="ip,username,anonymous",
            default_realm="example.org",
            max_forwards="70",
        ),
    )


#: Families in load order (all keyed on ``id``), and their records.
PJSIP_RECORDS: dict[str, tuple[Record, ...]] = {
    "ps_endpoints": _endpoints(),
    "ps_auths": _auths(),
    "ps_aors": _aors(),
    "ps_contacts": _contacts(),
    "ps_domain_aliases": _domain_aliases(),
    "ps_endpoint_id_ips": _identifies(),
    # The long tail: generic name=value entries on LDAP, standard tables on SQL.
    "ps_registrations": _registrations(),
    "ps_globals": _globals(),
}
PJSIP_KEYS: dict[str, tuple[str, ...]] = {family: ("id",) for family in PJSIP_RECORDS}
PJSIP_FAMILIES: tuple[str, ...] = tuple(PJSIP_RECORDS)
