"""The standard tables: names and column order exactly as Asterisk's alembic scripts
(curl-protocol.md §10), created by ``init_schema`` on every engine."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ara_ldap.backends.sql import STANDARD_TABLES, SqlBackend, init_schema
from ara_ldap.backends.sql.tables import METADATA
from ara_ldap.pjsip_columns import COLUMNS, GENERIC_COLUMNS
from ara_ldap.realtime import Realtime

SIPPEERS = [
    "id",
    "name",
    "ipaddr",
    "port",
    "regseconds",
    "defaultuser",
    "fullcontact",
    "regserver",
    "useragent",
    "lastms",
    "host",
    "type",
    "context",
    "secret",
    "md5secret",
    "remotesecret",
    "permit",
    "deny",
    "transport",
    "dtmfmode",
    "directmedia",
    "nat",
    "callgroup",
    "pickupgroup",
    "language",
    "disallow",
    "allow",
    "insecure",
    "trustrpid",
    "progressinband",
    "promiscredir",
    "useclientcode",
    "accountcode",
    "setvar",
    "callerid",
    "amaflags",
    "callcounter",
    "busylevel",
    "allowoverlap",
    "allowsubscribe",
    "videosupport",
    "maxcallbitrate",
    "rfc2833compensate",
    "mailbox",
    "session-timers",
    "session-expires",
    "session-minse",
    "session-refresher",
    "t38pt_usertpsource",
    "regexten",
    "fromdomain",
    "fromuser",
    "qualify",
    "defaultip",
    "rtptimeout",
    "rtpholdtimeout",
    "sendrpid",
    "outboundproxy",
    "callbackextension",
    "timert1",
    "timerb",
    "qualifyfreq",
    "constantssrc",
    "contactpermit",
    "contactdeny",
    "usereqphone",
    "textsupport",
    "faxdetect",
    "buggymwi",
    "auth",
    "fullname",
    "trunkname",
    "cid_number",
    "callingpres",
    "mohinterpret",
    "mohsuggest",
    "parkinglot",
    "hasvoicemail",
    "subscribemwi",
    "vmexten",
    "autoframing",
    "rtpkeepalive",
    "call-limit",
    "g726nonstandard",
    "ignoresdpversion",
    "allowtransfer",
    "dynamic",
    "path",
    "supportpath",
]

IAXFRIENDS = [
    "id",
    "name",
    "type",
    "username",
    "mailbox",
    "secret",
    "dbsecret",
    "context",
    "regcontext",
    "host",
    "ipaddr",
    "port",
    "defaultip",
    "sourceaddress",
    "mask",
    "regexten",
    "regseconds",
    "accountcode",
    "mohinterpret",
    "mohsuggest",
    "inkeys",
    "outkeys",
    "language",
    "callerid",
    "cid_number",
    "sendani",
    "fullname",
    "trunk",
    "auth",
    "maxauthreq",
    "requirecalltoken",
    "encryption",
    "transfer",
    "jitterbuffer",
    "forcejitterbuffer",
    "disallow",
    "allow",
    "codecpriority",
    "qualify",
    "qualifysmoothing",
    "qualifyfreqok",
    "qualifyfreqnotok",
    "timezone",
    "adsi",
    "amaflags",
    "setvar",
]

VOICEMAIL = [
    "uniqueid",
    "context",
    "mailbox",
    "password",
    "fullname",
    "alias",
    "email",
    "pager",
    "attach",
    "attachfmt",
    "serveremail",
    "language",
    "tz",
    "deletevoicemail",
    "saycid",
    "sendvoicemail",
    "review",
    "tempgreetwarn",
    "operator",
    "envelope",
    "sayduration",
    "forcename",
    "forcegreetings",
    "callback",
    "dialout",
    "exitcontext",
    "maxmsg",
    "volgain",
    "imapuser",
    "imappassword",
    "imapserver",
    "imapport",
    "imapflags",
    "stamp",
]

EXTENSIONS = ["id", "context", "exten", "priority", "app", "appdata"]
AST_CONFIG = [
    "id",
    "cat_metric",
    "var_metric",
    "commented",
    "filename",
    "category",
    "var_name",
    "var_val",
]

EXPECTED = {
    "sippeers": SIPPEERS,
    "iaxfriends": IAXFRIENDS,
    "voicemail": VOICEMAIL,
    "extensions": EXTENSIONS,
    "ast_config": AST_CONFIG,
    # The PJSIP tables follow the column catalogue the LDAP schema is generated from.
    **{t: [c for c, _ in cols] for t, cols in {**COLUMNS, **GENERIC_COLUMNS}.items()},
}


@pytest.mark.parametrize("table", STANDARD_TABLES)
def test_definitions_have_the_alembic_columns_in_order(table: str) -> None:
    assert [c.name for c in METADATA.tables[table].columns] == EXPECTED[table]


@pytest.mark.parametrize("table", STANDARD_TABLES)
def test_created_tables_reflect_the_same_columns_in_order(backend: SqlBackend, table: str) -> None:
    assert [c.name for c in backend.table_info(table).table.columns] == EXPECTED[table]


def test_init_schema_creates_only_missing_tables(backend: SqlBackend) -> None:
    assert init_schema(backend.engine, backend.settings.db_schema) == []


def test_family_fields_are_the_visible_columns(rt: Realtime) -> None:
    assert rt.fields("sippeers") == SIPPEERS[1:]
    assert rt.fields("voicemail") == VOICEMAIL[1:]


@pytest.mark.parametrize(
    ("column", "length"),
    [("type", 6), ("transport", 7), ("dtmfmode", 9), ("callingpres", 21), ("trustrpid", 3)],
)
def test_enum_columns_are_varchar_wide_enough_for_every_value(column: str, length: int) -> None:
    type_ = METADATA.tables["sippeers"].c[column].type
    assert isinstance(type_, sa.String) and type_.length == length


@pytest.mark.parametrize("target", ["mariadb"], indirect=True)
def test_mariadb_tables_use_a_binary_no_pad_collation(backend: SqlBackend) -> None:
    with backend.engine.connect() as conn:
        collations = (
            conn.execute(
                sa.text(
                    "SELECT DISTINCT table_collation FROM information_schema.tables "
                    "WHERE table_schema = :schema"
                ),
                {"schema": backend.settings.db_schema},
            )
            .scalars()
            .all()
        )
    assert collations == ["utf8mb4_nopad_bin"]
