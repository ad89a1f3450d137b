"""A lone LIKE '%' / 'literal%' is answered by the replica from its sorted keys without
filtering: the answer must equal the core's record_matches over every record."""

from __future__ import annotations

import random

import pytest

from ara_ldap.backends.ldap.mapping import FamilyMap
from ara_ldap.backends.ldap.replica import FamilyReplica
from ara_ldap.config import LdapFamily, load_settings
from ara_ldap.criteria import Criterion, Operator, record_matches

VALUES = ["", "a", "ab", "abc", "Ab", "b", "a_b", "a%b", "é", "a\nb", "_x"]
PATTERNS = ["%", "a%", "ab%", "A%", "\\_%", "a\\_%", "a\\%%", "é%", "a\n%", "zz%"]


def _replica(rng: random.Random) -> FamilyReplica:
    backend = {"type": "ldap", "urls": ["ldap://127.0.0.1:389"], "base_dn": "dc=example,dc=org"}
    spec = load_settings({"backends": {"d": backend}}).backends["d"].families["sippeers"]
    assert isinstance(spec, LdapFamily)
    fmap = FamilyMap("sippeers", spec)
    replica = FamilyReplica(fmap)
    for i in range(200):
        raw: dict[str, list[bytes]] = {"objectClass": [b"AsteriskSIPUser"]}
        raw[fmap.attribute("name")] = [f"n{i}".encode()]
        picks = rng.sample(VALUES, rng.randrange(0, 3))  # none, one, or two values
        if picks:
            raw[fmap.attribute("allow")] = [v.encode() for v in picks]
        raw[fmap.attribute("callerid")] = [rng.choice(VALUES).encode()]
        replica.upsert(i.to_bytes(2, "big"), f"cn=n{i},dc=example,dc=org", raw)
    return replica


@pytest.mark.parametrize("field", ["allow", "callerid", "CallerID"])
@pytest.mark.parametrize("pattern", PATTERNS)
def test_lone_like_equals_a_full_scan(field: str, pattern: str) -> None:
    replica = _replica(random.Random(f"{field}{pattern}"))
    criteria = [Criterion(field, Operator.LIKE, pattern)]
    expected = [r for r in replica.records() if record_matches(r, criteria)]
    got = replica.search(criteria)
    assert sorted(map(tuple, got)) == sorted(map(tuple, expected))
