"""The fast path's request bytes equal ldap3's for the same search (the wire is the spec)."""

from __future__ import annotations

import ldap3
import pytest
from ldap3.operation.search import search_operation
from ldap3.protocol.rfc4511 import LDAPMessage, MessageID, ProtocolOp
from ldap3.utils.asn1 import encode

from ara_ldap.backends.ldap import filters
from ara_ldap.backends.ldap.fastpath import Template, ber_length, encode_item
from ara_ldap.criteria import Criterion, Operator

BASE = "ou=sip,ou=asterisk,dc=example,dc=org"

VALUES = [
    "alice",
    "*",
    "a*b",
    "(x)",
    "a)(cn=*",
    "back\\slash",
    "nul\x00byte",
    "tab\tinside",
    "  padded  ",
    "two  spaces",
    "ünïcödé",
    "日本語",
    "emoji 🎉",
    "a" * 130,  # a value whose length needs the long form
    "b" * 300,  # ... two length octets
    "%",
    "%%",
    "_",
    "100%",
    "%middle%",
    "pre%",
    "%post",
    "a%b%c",
    "a_b",
    "+",
    "=",
    "x=y",
]

RULES = [
    filters.DEFAULT_RULES,
    filters.AttributeRules(prefixed=True),
    filters.AttributeRules(substring=False),
    filters.AttributeRules(integer_ordering=True),
]


def ldap3_message(message_id: int, base: str, search_filter: str) -> bytes:
    """What LdapBackend's ldap3 path sends (the pool's connection flags)."""
    request = search_operation(
        base,
        search_filter,
        ldap3.SUBTREE,
        ldap3.DEREF_NEVER,
        [ldap3.ALL_ATTRIBUTES],
        0,
        0,
        False,
        False,  # auto_escape
        True,  # auto_encode
        None,
        validator=None,
        check_names=False,
    )
    message = LDAPMessage()
    message["messageID"] = MessageID(message_id)
    message["protocolOp"] = ProtocolOp().setComponentByName("searchRequest", request)
    return bytes(encode(message))


def components_for(value: str, rules: filters.AttributeRules) -> list[str]:
    return [
        filters.component("AstAccountName", Criterion("name", op, value), rules)
        for op in (Operator.EQ, Operator.LIKE, Operator.GE, Operator.LT)
    ]


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("rules", RULES, ids=["default", "prefixed", "nosubstr", "intorder"])
def test_single_component_bytes_equal_ldap3(value: str, rules: filters.AttributeRules) -> None:
    family_filter = "(objectClass=AsteriskSIPUser)"
    template = Template.build(BASE, family_filter)
    for component in components_for(value, rules):
        encoded = template.filter_bytes([component])
        assert encoded is not None, component
        expected = ldap3_message(7, BASE, filters.build_filter(family_filter, [component]))
        assert template.request(7, encoded) == expected, component


@pytest.mark.parametrize(
    "family_filter",
    [
        None,
        "(objectClass=AsteriskSIPUser)",
        "(&(objectClass=AsteriskExtension)(!(AstContext=x)))",
        "(|(objectClass=a)(objectClass=b))",
    ],
)
def test_family_filter_and_several_criteria_equal_ldap3(family_filter: str | None) -> None:
    template = Template.build(BASE, family_filter)
    components = ["(AstContext=from-internal)", "(AstExtension=1*)", "(AstPriority>=1)"]
    for count in range(len(components) + 1):
        parts = components[:count]
        encoded = template.filter_bytes(parts)
        assert encoded is not None
        expected = ldap3_message(99, BASE, filters.build_filter(family_filter, parts))
        assert template.request(99, encoded) == expected


@pytest.mark.parametrize("message_id", [1, 127, 128, 255, 256, 32767, 32768, 2**31 - 1])
def test_message_id_encoding_equals_ldap3(message_id: int) -> None:
    template = Template.build(BASE, None)
    encoded = template.filter_bytes(["(cn=x)"])
    assert encoded is not None
    assert template.request(message_id, encoded) == ldap3_message(message_id, BASE, "(cn=x)")


def test_non_ascii_base_dn_equals_ldap3() -> None:
    base = "ou=Zürich,dc=example,dc=org"
    template = Template.build(base, None)
    encoded = template.filter_bytes(["(cn=x)"])
    assert encoded is not None
    assert template.request(3, encoded) == ldap3_message(3, base, "(cn=x)")


def test_slot_component_equals_ldap3() -> None:
    template = Template.build(BASE, None)
    component = f"(AstVariable=*={filters.escape_filter_value('a*b')})"
    encoded = template.filter_bytes([component])
    assert encoded is not None
    assert template.request(5, encoded) == ldap3_message(5, BASE, component)


@pytest.mark.parametrize(
    "component",
    [
        "(|(a=1)(b=2))",
        "(!(a=1))",
        "(&(a=1)(b=2))",
        "(a~=x)",
        "(a:caseExactMatch:=x)",
        "(a=bad\\zz)",
        "a=1",
    ],
)
def test_shapes_outside_the_fast_path_are_declined(component: str) -> None:
    assert encode_item(component) is None


@pytest.mark.parametrize("n", [0, 1, 127, 128, 255, 256, 65535, 65536])
def test_ber_length_is_minimal(n: int) -> None:
    out = ber_length(n)
    if n < 128:
        assert out == bytes((n,))
    else:
        body = out[1:]
        assert out[0] == 0x80 | len(body)
        assert int.from_bytes(body, "big") == n
        assert body[0] != 0
