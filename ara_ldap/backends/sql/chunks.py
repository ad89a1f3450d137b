"""The ODBC/PgSQL multi-value convention: several values in one column, ``;``-separated.

Asterisk's SQL drivers split every column on ``;`` into repeated variables, trim each chunk,
drop empty chunks and decode ``^XX`` hex escapes; when writing they encode ``;`` and ``^``
as ``^3B``/``^5E`` (``ast_realtime_decode_chunk``/``ast_realtime_encode_chunk``,
realtime-api.md §11.6, curl-protocol.md §3.5).  The SQL backend applies this to the
family's ``multi_valued`` fields only, so a database shared with res_config_odbc reads the
same, and values such as a SIP contact ``sip:x@h;transport=udp`` are never split.

One addition on write: whitespace at either end of a value is ``^XX``-encoded too.  The
reader trims chunks before decoding them (as Asterisk does), so without it ``" ulaw"`` would
come back as ``"ulaw"``; with it every value round-trips exactly and Asterisk's own decoder
still reads it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SEPARATOR = ";"
_ESCAPE_RE = re.compile(rb"\^([0-9A-Fa-f]{2})")
_ALWAYS_ENCODED = frozenset(";^")


def decode_chunk(chunk: str) -> str:
    """Decode ``^XX`` escapes (any two hex digits) as bytes of the UTF-8 text."""
    if "^" not in chunk:
        return chunk
    raw = _ESCAPE_RE.sub(lambda m: bytes([int(m.group(1), 16)]), chunk.encode("utf-8"))
    return raw.decode("utf-8", errors="replace")


def split_chunks(raw: str) -> list[str]:
    """A stored column value as its list of values: split, trim, drop empties, decode."""
    out: list[str] = []
    for chunk in raw.split(SEPARATOR):
        chunk = chunk.strip()
        if chunk:
            out.append(decode_chunk(chunk))
    return out


def _escape(ch: str) -> str:
    return "".join(f"^{b:02X}" for b in ch.encode("utf-8"))


def encode_chunk(value: str) -> str:
    """One value as stored: ``;`` and ``^`` escaped, and so is whitespace at either end."""
    core = value.strip()
    if not core:
        return "".join(_escape(ch) for ch in value)
    start = len(value) - len(value.lstrip())
    lead, tail = value[:start], value[start + len(core) :]
    body = "".join(_escape(ch) if ch in _ALWAYS_ENCODED else ch for ch in core)
    return "".join(_escape(ch) for ch in lead) + body + "".join(_escape(ch) for ch in tail)


def join_chunks(values: Iterable[str]) -> str | None:
    """Values joined for storage; ``None`` (SQL NULL) when there is no non-empty value."""
    encoded = [encode_chunk(v) for v in values if v != ""]
    return SEPARATOR.join(encoded) if encoded else None
