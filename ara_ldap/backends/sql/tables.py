"""The standard Asterisk realtime tables, as SQLAlchemy Core ``Table`` definitions.

Columns, order, types and indexes follow Asterisk's alembic scripts
(``contrib/ast-db-manage/config``; curl-protocol.md §10) so a database created here is the
one res_config_odbc/res_config_pgsql expect, and one populated for them can be used as is.
Two deliberate simplifications, documented in docs/backends.md:

* Enum columns (``type``, ``transport``, ``yesno`` ...) are plain ``VARCHAR`` wide enough for
  the longest allowed value: alembic creates a named PostgreSQL enum type per set, which
  makes the schema engine-specific and turns an unexpected value into a server error; the
  values are still checked by Asterisk when it reads them.
* ``ast_config`` is not in alembic; its DDL is the classic one from the Asterisk docs (§10.12).
* The PJSIP ``ps_*`` tables (and ``stir_tn``) come from the column catalogue in
  :mod:`ara_ldap.pjsip_columns` (alembic head ``2285f2ace275``): ``id`` NOT NULL UNIQUE,
  integers as INTEGER/BIGINT, ``qualify_timeout`` as FLOAT, enums and ``astbool`` as
  VARCHAR as wide as their longest label.  Left out: the ``ps_contacts_uq (id,
  reg_server)`` constraint, redundant with the unique ``id`` and wrong for us (it would
  make ``reg_server``, which Asterisk sends empty, part of a key).

On MySQL/MariaDB the tables are created with a binary, no-pad collation so that ``=``,
unique keys and ``LIKE`` are case- and trailing-space-sensitive as on SQLite and
PostgreSQL; the backend is exact on case-insensitive tables too (it post-filters), this only
makes unique keys agree across engines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ara_ldap.pjsip_columns import COLUMNS, GENERIC_COLUMNS

#: The PJSIP tables, typed families first, then the long tail.
PJSIP_TABLES = (*COLUMNS, *GENERIC_COLUMNS)
#: The table names defined here, in creation order.
STANDARD_TABLES = (
    "sippeers",
    "iaxfriends",
    "voicemail",
    "extensions",
    "ast_config",
    *PJSIP_TABLES,
)
#: Extra indexes of the alembic scripts (besides the one on ``id``).
_PJSIP_INDEXES = {
    "ps_aors": [("ps_aors_qualifyfreq_contact", ("qualify_frequency", "contact"))],
    "ps_contacts": [("ps_contacts_qualifyfreq_exp", ("qualify_frequency", "expiration_time"))],
}

_YESNO = 3
_ID = sa.Integer
#: BIGINT autoincrement keys must be INTEGER on SQLite (only INTEGER PRIMARY KEY autoincrements).
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _s(length: int | None = None, collation: str | None = None) -> sa.String:
    return sa.String(length, collation=collation)


def _cols(type_: Any, *names: str) -> list[sa.Column[Any]]:
    """Several columns of one type (the alembic scripts list them that way)."""
    return [sa.Column(n, type_) for n in names]


def _sippeers(md: sa.MetaData, c: str | None, kw: dict[str, Any]) -> sa.Table:
    def s(n: int) -> sa.String:
        return _s(n, c)

    yesno = s(_YESNO)
    return sa.Table(
        "sippeers",
        md,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("name", s(40), nullable=False, unique=True),
        sa.Column("ipaddr", s(45)),
        sa.Column("port", sa.Integer),
        sa.Column("regseconds", sa.Integer),
        sa.Column("defaultuser", s(40)),
        sa.Column("fullcontact", s(80)),
        sa.Column("regserver", s(20)),
        sa.Column("useragent", s(255)),
        sa.Column("lastms", sa.Integer),
        sa.Column("host", s(40)),
        sa.Column("type", s(6)),  # E{friend,user,peer}
        *_cols(s(40), "context", "secret", "md5secret", "remotesecret"),
        *_cols(s(95), "permit", "deny"),
        sa.Column("transport", s(7)),  # E{udp,tcp,tls,ws,wss,udp,tcp,tcp,udp}
        sa.Column("dtmfmode", s(9)),  # E{rfc2833,info,shortinfo,inband,auto}
        sa.Column("directmedia", s(8)),  # E{yes,no,nonat,update,outgoing}
        sa.Column("nat", s(29)),
        *_cols(s(40), "callgroup", "pickupgroup", "language"),
        *_cols(s(200), "disallow", "allow"),
        sa.Column("insecure", s(40)),
        sa.Column("trustrpid", yesno),
        sa.Column("progressinband", s(5)),  # E{yes,no,never}
        *_cols(yesno, "promiscredir", "useclientcode"),
        sa.Column("accountcode", s(80)),
        sa.Column("setvar", s(200)),
        *_cols(s(40), "callerid", "amaflags"),
        sa.Column("callcounter", yesno),
        sa.Column("busylevel", sa.Integer),
        *_cols(yesno, "allowoverlap", "allowsubscribe", "videosupport"),
        sa.Column("maxcallbitrate", sa.Integer),
        sa.Column("rfc2833compensate", yesno),
        sa.Column("mailbox", s(40)),
        sa.Column("session-timers", s(9)),  # E{accept,refuse,originate}
        *_cols(sa.Integer, "session-expires", "session-minse"),
        sa.Column("session-refresher", s(3)),  # E{uac,uas}
        *_cols(s(40), "t38pt_usertpsource", "regexten", "fromdomain", "fromuser", "qualify"),
        sa.Column("defaultip", s(45)),
        *_cols(sa.Integer, "rtptimeout", "rtpholdtimeout"),
        sa.Column("sendrpid", yesno),
        *_cols(s(40), "outboundproxy", "callbackextension"),
        *_cols(sa.Integer, "timert1", "timerb", "qualifyfreq"),
        sa.Column("constantssrc", yesno),
        *_cols(s(95), "contactpermit", "contactdeny"),
        *_cols(yesno, "usereqphone", "textsupport", "faxdetect", "buggymwi"),
        *_cols(s(40), "auth", "fullname", "trunkname", "cid_number"),
        sa.Column("callingpres", s(21)),  # E{allowed_not_screened, ..., prohib}
        *_cols(s(40), "mohinterpret", "mohsuggest", "parkinglot"),
        *_cols(yesno, "hasvoicemail", "subscribemwi"),
        sa.Column("vmexten", s(40)),
        sa.Column("autoframing", yesno),
        *_cols(sa.Integer, "rtpkeepalive", "call-limit"),
        *_cols(yesno, "g726nonstandard", "ignoresdpversion", "allowtransfer", "dynamic"),
        sa.Column("path", s(256)),
        sa.Column("supportpath", yesno),
        sa.Index("sippeers_name", "name"),
        sa.Index("sippeers_name_host", "name", "host"),
        sa.Index("sippeers_ipaddr_port", "ipaddr", "port"),
        sa.Index("sippeers_host_port", "host", "port"),
        **kw,
    )


def _iaxfriends(md: sa.MetaData, c: str | None, kw: dict[str, Any]) -> sa.Table:
    def s(n: int) -> sa.String:
        return _s(n, c)

    yesno = s(_YESNO)
    return sa.Table(
        "iaxfriends",
        md,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("name", s(40), nullable=False, unique=True),
        sa.Column("type", s(6)),  # E{friend,user,peer}
        *_cols(
            s(40),
            "username",
            "mailbox",
            "secret",
            "dbsecret",
            "context",
            "regcontext",
            "host",
            "ipaddr",
        ),
        sa.Column("port", sa.Integer),
        *_cols(s(20), "defaultip", "sourceaddress", "mask"),
        sa.Column("regexten", s(40)),
        sa.Column("regseconds", sa.Integer),
        sa.Column("accountcode", s(80)),
        *_cols(s(20), "mohinterpret", "mohsuggest"),
        *_cols(s(40), "inkeys", "outkeys"),
        sa.Column("language", s(10)),
        sa.Column("callerid", s(100)),
        sa.Column("cid_number", s(40)),
        sa.Column("sendani", yesno),
        sa.Column("fullname", s(40)),
        sa.Column("trunk", yesno),
        sa.Column("auth", s(20)),
        sa.Column("maxauthreq", sa.Integer),
        sa.Column("requirecalltoken", s(4)),  # E{yes,no,auto}
        sa.Column("encryption", s(6)),  # E{yes,no,aes128}
        sa.Column("transfer", s(9)),  # E{yes,no,mediaonly}
        *_cols(yesno, "jitterbuffer", "forcejitterbuffer"),
        *_cols(s(200), "disallow", "allow"),
        sa.Column("codecpriority", s(40)),
        sa.Column("qualify", s(10)),
        sa.Column("qualifysmoothing", yesno),
        *_cols(s(10), "qualifyfreqok", "qualifyfreqnotok"),
        sa.Column("timezone", s(20)),
        sa.Column("adsi", yesno),
        sa.Column("amaflags", s(20)),
        sa.Column("setvar", s(200)),
        sa.Index("iaxfriends_name", "name"),
        sa.Index("iaxfriends_name_host", "name", "host"),
        sa.Index("iaxfriends_name_ipaddr_port", "name", "ipaddr", "port"),
        sa.Index("iaxfriends_ipaddr_port", "ipaddr", "port"),
        sa.Index("iaxfriends_host_port", "host", "port"),
        **kw,
    )


def _voicemail(md: sa.MetaData, c: str | None, kw: dict[str, Any]) -> sa.Table:
    def s(n: int) -> sa.String:
        return _s(n, c)

    yesno = s(_YESNO)
    return sa.Table(
        "voicemail",
        md,
        sa.Column("uniqueid", _ID, primary_key=True, autoincrement=True),
        *[sa.Column(n, s(80), nullable=False) for n in ("context", "mailbox", "password")],
        *_cols(s(80), "fullname", "alias", "email", "pager"),
        sa.Column("attach", yesno),
        sa.Column("attachfmt", s(10)),
        sa.Column("serveremail", s(80)),
        sa.Column("language", s(20)),
        sa.Column("tz", s(30)),
        *_cols(
            yesno,
            "deletevoicemail",
            "saycid",
            "sendvoicemail",
            "review",
            "tempgreetwarn",
            "operator",
            "envelope",
        ),
        sa.Column("sayduration", sa.Integer),
        *_cols(yesno, "forcename", "forcegreetings"),
        *_cols(s(80), "callback", "dialout", "exitcontext"),
        sa.Column("maxmsg", sa.Integer),
        sa.Column("volgain", sa.Numeric(5, 2)),
        *_cols(s(80), "imapuser", "imappassword", "imapserver"),
        sa.Column("imapport", s(8)),
        sa.Column("imapflags", s(80)),
        sa.Column("stamp", sa.DateTime),
        sa.Index("voicemail_mailbox", "mailbox"),
        sa.Index("voicemail_context", "context"),
        sa.Index("voicemail_mailbox_context", "mailbox", "context"),
        sa.Index("voicemail_imapuser", "imapuser"),
        **kw,
    )


def _extensions(md: sa.MetaData, c: str | None, kw: dict[str, Any]) -> sa.Table:
    return sa.Table(
        "extensions",
        md,
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("context", _s(40, c), nullable=False),
        sa.Column("exten", _s(40, c), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("app", _s(40, c), nullable=False),
        sa.Column("appdata", _s(256, c), nullable=False),
        sa.UniqueConstraint(
            "context", "exten", "priority", name="extensions_context_exten_priority"
        ),
        **kw,
    )


def _ast_config(md: sa.MetaData, c: str | None, kw: dict[str, Any]) -> sa.Table:
    zero = sa.text("0")
    return sa.Table(
        "ast_config",
        md,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("cat_metric", sa.Integer, nullable=False, server_default=zero),
        sa.Column("var_metric", sa.Integer, nullable=False, server_default=zero),
        sa.Column("commented", sa.Integer, nullable=False, server_default=zero),
        sa.Column("filename", _s(128, c), nullable=False, server_default=""),
        sa.Column("category", _s(128, c), nullable=False, server_default="default"),
        sa.Column("var_name", _s(128, c), nullable=False, server_default=""),
        sa.Column("var_val", _s(128, c), nullable=False, server_default=""),
        sa.Index("ast_config_filename_commented", "filename", "commented"),
        **kw,
    )


def _pjsip_type(type_: str, c: str | None) -> sa.types.TypeEngine[Any]:
    if type_ == "Int":
        return sa.Integer()
    if type_ == "BigInt":
        return sa.BigInteger()
    if type_ == "Float":
        return sa.Float()
    if type_ == "Bool":
        return sa.Boolean()
    if type_ == "Text":
        return sa.Text(collation=c)
    if type_ == "astbool":
        return _s(5, c)  # {0,1,off,on,false,true,no,yes}
    return _s(int(type_[1:]), c)  # S<n>


#: The longest label of each PJSIP enum column (pjsip.md section 1): MySQL/MariaDB refuse
#: ps_endpoints with VARCHAR(40) enums (InnoDB's 8126-byte inline row limit).
_ENUM_WIDTHS = {
    "connected_line_method": 8,
    "direct_media_method": 8,
    "direct_media_glare_mitigation": 8,
    "dtmf_mode": 9,
    "timers": 8,
    "callerid_privacy": 23,
    "100rel": 14,
    "media_encryption": 4,
    "t38_udptl_ec": 10,
    "dtls_setup": 7,
    "redirect_method": 9,
    "dtls_fingerprint": 7,
    "incoming_call_offer_pref": 12,
    "outgoing_call_offer_pref": 12,
    "security_negotiation": 8,
    "auth_type": 12,
    "taskprocessor_overload_trigger": 10,
}


def _pjsip_column(name: str, type_: str, c: str | None) -> sa.Column[Any]:
    kind = _s(_ENUM_WIDTHS.get(name, 40), c) if type_ == "E" else _pjsip_type(type_, c)
    return sa.Column(name, kind, nullable=name != "id", unique=name == "id")


def _pjsip(name: str, columns: list[tuple[str, str]]) -> Callable[..., sa.Table]:
    def build(md: sa.MetaData, c: str | None, kw: dict[str, Any]) -> sa.Table:
        cols = [_pjsip_column(col, type_, c) for col, type_ in columns]
        indexes = [sa.Index(f"{name}_id", "id")]
        indexes += [sa.Index(n, *on) for n, on in _PJSIP_INDEXES.get(name, [])]
        return sa.Table(name, md, *cols, *indexes, **kw)

    return build


_BUILDERS: dict[str, Callable[..., sa.Table]] = {
    "sippeers": _sippeers,
    "iaxfriends": _iaxfriends,
    "voicemail": _voicemail,
    "extensions": _extensions,
    "ast_config": _ast_config,
    **{name: _pjsip(name, cols) for name, cols in {**COLUMNS, **GENERIC_COLUMNS}.items()},
}


def standard_metadata(
    schema: str | None = None,
    text_collation: str | None = None,
    mysql_collate: str | None = None,
) -> sa.MetaData:
    """Fresh definitions of the standard tables.

    ``schema``: a PostgreSQL schema or MySQL/MariaDB database to create them in.
    ``text_collation``: a collation for every text column (tests use it to check that a
    case-insensitive table gives the same answers).  ``mysql_collate``: the table collation
    on MySQL/MariaDB (ignored elsewhere).
    """
    md = sa.MetaData(schema=schema)
    kw: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}
    if mysql_collate:
        kw["mysql_collate"] = mysql_collate
    for build in _BUILDERS.values():
        build(md, text_collation, kw)
    return md


#: The definitions without a schema: the reference for names, order and widths.
METADATA = standard_metadata()


def standard_table(name: str) -> sa.Table | None:
    """The standard definition of table ``name``, if it is one of ours."""
    return METADATA.tables.get(name)


def binary_collation(bind: Connection) -> str | None:
    """The case- and space-sensitive collation for new tables on MySQL/MariaDB."""
    dialect = bind.dialect
    if dialect.name != "mysql":
        return None
    if getattr(dialect, "is_mariadb", False):
        return "utf8mb4_nopad_bin"
    version = dialect.server_version_info or (0,)
    return "utf8mb4_0900_bin" if tuple(version) >= (8, 0, 17) else "utf8mb4_bin"


def init_schema(
    engine: Engine, schema: str | None = None, tables: tuple[str, ...] = STANDARD_TABLES
) -> list[str]:
    """Create the standard tables that do not exist yet (``ara-ldap sql init``).

    Existing tables are left alone, even if their columns differ; ``require`` reports what
    they lack.  Returns the names of the tables created.
    """
    with engine.begin() as conn:
        md = standard_metadata(schema, mysql_collate=binary_collation(conn))
        inspector = sa.inspect(conn)
        wanted = [md.tables[_qualified(schema, name)] for name in tables]
        missing = [t for t in wanted if not inspector.has_table(t.name, schema=schema)]
        md.create_all(conn, tables=missing)
    return [t.name for t in missing]


def _qualified(schema: str | None, name: str) -> str:
    return f"{schema}.{name}" if schema else name
