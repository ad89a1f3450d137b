"""The one fixture data set every backend is loaded with (LDIF for LDAP, rows for SQL).

Written once, here, so every backend answers the same questions about the same data; the
loaders (:mod:`.loaders`) only translate it.  Only fields that exist both in the shipped
LDAP attribute maps (``defaults/ldap-families.yaml``) and in the standard SQL tables
(``backends/sql/tables.py``) are used; each loader refuses a field its backend lacks.
An empty value means "absent" (no attribute, SQL NULL): loaders skip it, reads never
return it.

``sippeers`` (key ``name``)::

    name        context        host        regseconds  port   busylevel  qualifyfreq  accountcode
    alice       from-internal  dynamic     1700000000  5060   2          60           9
    bob         from-internal  dynamic     1800000000  5062   10         120          10
    carol       from-trunk     192.0.2.10  999         15060  9          -            100
    dave        from-internal  dynamic     -           -      -          -            -
    Zed         from-internal  -           -           -      -          -            5x
    a_b, axb, 100%, 1000       (context default, type peer, nothing else)

    allow (codec order is significant): alice ulaw,alaw,g722; bob g722,ulaw; carol alaw.
    alice also has disallow=all, permit, deny and setvar TENANT=example, CALLCLASS=internal
    (two values, in that order); bob's callerid is non-ASCII; carol's fullcontact holds ';';
    dave's language is loaded empty (so absent).

    ua-<id>         useragent = SPECIAL_VALUES[id]   (one peer per special value)
    ua-decoy-<n>    useragent = DECOYS[n]            (what a careless filter would also match)

``voicemail`` (key ``context`` + ``mailbox``)::

    context   mailbox  password  fullname        email
    default   1001     1234      Alice Example   alice@example.org
    default   1002     4321      Bob Example     -
    sales     1001     1111      Sales Desk      sales@example.org   (pager loaded empty)
    sales     2000     0000      Zoë Überall     -

``extensions`` (key ``context`` + ``exten`` + ``priority``)::

    from-internal                         default
    ├── 100   1 Answer                    ├── s    1 Answer
    │         2 Dial  SIP/alice,30        │        2 Playback welcome
    │         3 Hangup                    ├── 100  1 NoOp default context
    │        10 NoOp  ten                 └── _9.  1 Dial SIP/trunk/${EXTEN:1}
    ├── 1000  1 Dial  SIP/bob,20,tT
    ├── 101   1 VoiceMail 1001@default
    ├── 1_0   1 NoOp  literal underscore  (a literal row whose exten contains '_')
    ├── _1XX  1 NoOp  pattern ${EXTEN}
    │         2 Dial  SIP/${EXTEN},30
    └── _X.   1 Playback invalid

``ast_config`` (key ``filename`` + ``cat_metric`` + ``var_metric``)::

    sip.conf                  cat_metric var_metric  category        var_name     var_val
                              3          0           general         context      default
                              3          1           general         allow        ulaw
                              3          2           general         allow        alaw
                              3          3           general         bindport     5060  (commented)
                              3          4           general         useragent    Ara; PBX
                              2          0           general         #include     sip-users.conf
                              1          0           authentication  realm        example.org
                              0          0           general         callcounter  yes
    sip-users.conf            1          0           alice           type         friend
                              1          1           alice           host         dynamic
                              0          0           bob             type         friend
    features.conf             0          0           featuremap      blindxfer    #1
                              0          1           applicationmap  testfeature  #5,self,Playback
                              0          2           featuremap      atxfer       *2
    broken.conf               0          0           general         #include     missing.conf

    Built in Asterisk's order (cat_metric DESC, var_metric ASC), sip.conf reads:
    [general] context, allow, allow, useragent; then sip-users.conf's [alice] and [bob];
    [authentication]; and a second [general] (same name, another cat_metric).
    features.conf interleaves two categories, so it has featuremap, applicationmap,
    featuremap.  broken.conf includes a file that is not stored.

The PJSIP families (``ps_endpoints``, ``ps_auths``, ``ps_aors``, ``ps_contacts``,
``ps_domain_aliases``, ``ps_endpoint_id_ips``) come from :mod:`.dataset_pjsip`; a target
whose backend does not configure them loads the rest and lacks the ``pjsip`` capability.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ara_ldap.criteria import Criterion, Operator
from ara_ldap.record import Record
from ara_ldap.testing.conformance.dataset_pjsip import PJSIP_FAMILIES, PJSIP_KEYS, PJSIP_RECORDS

__all__ = [
    "DATASET",
    "DECOYS",
    "FAMILIES",
    "KEYS",
    "PJSIP_FAMILIES",
    "SPECIAL_NAMES",
    "SPECIAL_VALUES",
    "Dataset",
    "record",
]

FieldValue = str | Sequence[str]


def record(**fields: FieldValue) -> Record:
    """A record from keyword fields; a list value becomes repeated fields, in order."""
    return Record.from_mapping(fields)


#: Values that break naive filters, escapes and splitters, by id.  Each is stored in the
#: ``useragent`` of peer ``ua-<id>`` and must be matched by itself and nothing else.
SPECIAL_VALUES: dict[str, str] = {
    "semicolon": "a;b",
    "caret": "a^5Eb",
    "percent": "50%",
    "underscore": "a_b",
    "star": "a*b",
    "parens": "f(x)",
    "backslash": "C:\\dir",
    "comma": "a,b",
    "equals": "k=v",
    "space": "two words",
    "nonascii": "Grüße ✓",
    "mixed": ";^%_*()\\,= ü",
    "hash": "#1",
}

#: Values a careless backend would confuse with a special value (split, unescaped,
#: wildcard, case- or space-insensitive matches).  Peer ``ua-decoy-<n>`` holds ``DECOYS[n]``.
DECOYS: tuple[str, ...] = (
    "a",
    "b",
    "ab",
    "axb",
    "axxb",
    "a^b",
    "50x",
    "500",
    "C:dir",
    "fx",
    "two  words",
    "TWO WORDS",
    "grüße ✓",
    "k",
)

#: Names (the key of ``sippeers``, the RDN in LDAP) with characters DNs must escape.
SPECIAL_NAMES: dict[str, str] = {
    "comma-plus": "trunk,provider+1",
    "leading-hash": "#tenant",
    "equals": "x=y",
    "semicolon": "semi;colon",
    "backslash": "back\\slash",
    "quote": 'q"uote',
    "angle": "<lt>",
    "star": "st*r",
    "parens": "pa(re)ns",
    "nonascii": "Jürgen",
    "inner-space": "two words",
}


def _peers() -> tuple[Record, ...]:
    peers = [
        record(
            name="alice",
            type="friend",
            host="dynamic",
            context="from-internal",
            secret="fake-alice-secret",
            callerid='"Alice Example" <1001>',
            mailbox="1001@default",
            accountcode="9",
            regseconds="1700000000",
            port="5060",
            busylevel="2",
            qualifyfreq="60",
            language="en",
            disallow=["all"],
            allow=["ulaw", "alaw", "g722"],
            permit=["192.0.2.0/255.255.255.0"],
            deny=["0.0.0.0/0.0.0.0"],
            setvar=["TENANT=example", "CALLCLASS=internal"],
        ),
        record(
            name="bob",
            type="friend",
            host="dynamic",
            context="from-internal",
            secret="fake-bob-secret",
            callerid='"Bøb Ëxämple" <1002>',
            accountcode="10",
            regseconds="1800000000",
            port="5062",
            busylevel="10",
            qualifyfreq="120",
            allow=["g722", "ulaw"],
        ),
        record(
            name="carol",
            type="peer",
            host="192.0.2.10",
            ipaddr="192.0.2.10",
            context="from-trunk",
            accountcode="100",
            fullcontact="sip:carol@192.0.2.10:5060;transport=udp",
            regseconds="999",
            port="15060",
            busylevel="9",
            allow=["alaw"],
        ),
        record(name="dave", type="friend", host="dynamic", context="from-internal", language=""),
        record(name="Zed", type="user", context="from-internal", accountcode="5x"),
        record(name="a_b", type="peer", context="default"),
        record(name="axb", type="peer", context="default"),
        record(name="100%", type="peer", context="default"),
        record(name="1000", type="peer", context="default"),
    ]
    peers += [record(name=f"ua-{key}", useragent=value) for key, value in SPECIAL_VALUES.items()]
    peers += [record(name=f"ua-decoy-{i}", useragent=value) for i, value in enumerate(DECOYS)]
    return tuple(peers)


def _voicemail() -> tuple[Record, ...]:
    return (
        record(
            context="default",
            mailbox="1001",
            password="1234",
            fullname="Alice Example",
            email="alice@example.org",
        ),
        record(context="default", mailbox="1002", password="4321", fullname="Bob Example"),
        record(
            context="sales",
            mailbox="1001",
            password="1111",
            fullname="Sales Desk",
            email="sales@example.org",
            pager="",
        ),
        record(context="sales", mailbox="2000", password="0000", fullname="Zoë Überall"),
    )


def _ext(context: str, exten: str, priority: int, app: str, appdata: str = "") -> Record:
    return record(context=context, exten=exten, priority=str(priority), app=app, appdata=appdata)


def _extensions() -> tuple[Record, ...]:
    fi = "from-internal"
    return (
        _ext(fi, "100", 1, "Answer"),
        _ext(fi, "100", 2, "Dial", "SIP/alice,30"),
        _ext(fi, "100", 3, "Hangup"),
        _ext(fi, "100", 10, "NoOp", "ten"),
        _ext(fi, "1000", 1, "Dial", "SIP/bob,20,tT"),
        _ext(fi, "101", 1, "VoiceMail", "1001@default"),
        _ext(fi, "1_0", 1, "NoOp", "literal underscore"),
        _ext(fi, "_1XX", 1, "NoOp", "pattern ${EXTEN}"),
        _ext(fi, "_1XX", 2, "Dial", "SIP/${EXTEN},30"),
        _ext(fi, "_X.", 1, "Playback", "invalid"),
        _ext("default", "s", 1, "Answer"),
        _ext("default", "s", 2, "Playback", "welcome"),
        _ext("default", "100", 1, "NoOp", "default context"),
        _ext("default", "_9.", 1, "Dial", "SIP/trunk/${EXTEN:1}"),
    )


def _row(
    filename: str,
    cat_metric: int,
    var_metric: int,
    category: str,
    var_name: str,
    var_val: str,
    commented: int = 0,
) -> Record:
    return record(
        filename=filename,
        category=category,
        cat_metric=str(cat_metric),
        var_metric=str(var_metric),
        var_name=var_name,
        var_val=var_val,
        commented=str(commented),
    )


def _config() -> tuple[Record, ...]:
    sip, users, features = "sip.conf", "sip-users.conf", "features.conf"
    return (
        _row(sip, 3, 0, "general", "context", "default"),
        _row(sip, 3, 1, "general", "allow", "ulaw"),
        _row(sip, 3, 2, "general", "allow", "alaw"),
        _row(sip, 3, 3, "general", "bindport", "5060", commented=1),
        _row(sip, 3, 4, "general", "useragent", "Ara; PBX"),
        _row(sip, 2, 0, "general", "#include", users),
        _row(sip, 1, 0, "authentication", "realm", "example.org"),
        _row(sip, 0, 0, "general", "callcounter", "yes"),
        _row(users, 1, 0, "alice", "type", "friend"),
        _row(users, 1, 1, "alice", "host", "dynamic"),
        _row(users, 0, 0, "bob", "type", "friend"),
        _row(features, 0, 0, "featuremap", "blindxfer", "#1"),
        _row(features, 0, 1, "applicationmap", "testfeature", "#5,self,Playback"),
        _row(features, 0, 2, "featuremap", "atxfer", "*2"),
        _row("broken.conf", 0, 0, "general", "#include", "missing.conf"),
    )


#: Families in load order, and the fields that identify one record of each.
KEYS: dict[str, tuple[str, ...]] = {
    "sippeers": ("name",),
    "voicemail": ("context", "mailbox"),
    "extensions": ("context", "exten", "priority"),
    "ast_config": ("filename", "cat_metric", "var_metric"),
    # The PJSIP families (dataset_pjsip.py): loaded where the target configures them.
    **PJSIP_KEYS,
}
FAMILIES: tuple[str, ...] = tuple(KEYS)


@dataclass(frozen=True)
class Dataset:
    """Records per family, as loaded (empty values included: they mean "absent")."""

    families: Mapping[str, tuple[Record, ...]]

    def records(self, family: str) -> tuple[Record, ...]:
        return self.families[family]

    def key_criteria(self, family: str, rec: Record) -> list[Criterion]:
        """Equality criteria that find exactly ``rec`` (its key fields)."""
        return [Criterion(f, Operator.EQ, rec.get(f) or "") for f in KEYS[family]]

    def find(self, family: str, **key: str) -> Record:
        """The record of ``family`` whose fields equal ``key`` (exactly one)."""
        found = [r for r in self.families[family] if all(r.get(f) == v for f, v in key.items())]
        if len(found) != 1:
            raise KeyError(f"{family}: {len(found)} records match {key}")
        return found[0]

    def expected(self, family: str, **key: str) -> Record:
        """What a backend returns for that record: empty values left out."""
        return self.find(family, **key).without_empty()

    def fields(self, family: str) -> set[str]:
        return {f for rec in self.families[family] for f in rec.fields()}


DATASET = Dataset(
    {
        "sippeers": _peers(),
        "voicemail": _voicemail(),
        "extensions": _extensions(),
        "ast_config": _config(),
        **PJSIP_RECORDS,
    }
)
