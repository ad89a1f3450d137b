"""The LDAP fast path: uncached searches of the hot shapes without ldap3's per-request work.

Why (slapd.md §12, §15): an ldap3 ``conn.search()`` costs ~320–400 µs of client CPU, of
which ~150–210 µs is parsing the filter string into pyasn1 objects and BER-encoding them,
and ~100 µs decoding the reply into dicts with formatters.  slapd answers in ~50 µs.  So
the library, not the directory, is the bottleneck; this module is the hand-written hot
path that the measurement allows.  Measured with bench/fastpath.py (docs/ldap.md "Fast
path", same run, loaded 2-core box): one equality search of a 20-attribute peer costs
266–292 µs of client CPU here against 1870–1961 µs for plain ldap3 (6.7–7.0×; 7.4–8.4×
for a 10-entry prefix LIKE), of which the reply decode is ~47 µs against ~390–430 µs for
ldap3's decoder + dicts on the same bytes.

How: per family the constant parts of a SearchRequest (base DN, scope wholeSubtree,
derefAliases never, no limits, typesOnly false, attributes ``*``, the family's own filter)
are BER-encoded once.  Per request only the criteria's filter components are encoded
(equality, substrings, presence, >=, <= — each a single item of the same RFC 4515 string
the ldap3 path would send, unescaped to the exact bytes ldap3 puts on the wire; the unit
tests compare the bytes) and the message id is taken from ldap3's own counter; the
request is written to the pooled connection's socket and the reply read by a lean decoder.
Anything else (a component that is not a simple item, TLS or SASL-signed connections, a
reply the decoder does not expect) goes to ldap3's normal path; a reply it cannot read
disables the fast path for that family (one warning) and the read is retried by the pool
on a fresh connection, on ldap3's path.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ldap3
from ldap3.core.exceptions import (
    LDAPCommunicationError,
    LDAPSessionTerminatedByServerError,
    LDAPSocketOpenError,
    LDAPSocketReceiveError,
)
from ldap3.core.results import RESULT_CODES

from ara_ldap.backends.ldap.mapping import FamilyMap

log = logging.getLogger("ara_ldap.ldap")

RawEntry = tuple[str, dict[str, list[bytes]]]

#: Bytes asked from the socket per read (a typical entry is a few hundred bytes).
RECV_SIZE = 65536


class FastPathSurprise(LDAPCommunicationError):  # type: ignore[misc]
    """A reply the lean decoder does not expect: the connection's stream position is
    unknown (the pool discards it and retries the read, then on ldap3's path)."""


# BER --------------------------------------------------------------------------------------
def ber_length(n: int) -> bytes:
    """Definite length, minimal form (what pyasn1 writes)."""
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, value: bytes) -> bytes:
    return bytes((tag,)) + ber_length(len(value)) + value


def ber_integer(n: int) -> bytes:
    """INTEGER content, minimal two's complement."""
    return n.to_bytes(n.bit_length() // 8 + 1, "big", signed=True)


_ALL_ATTRIBUTES = tlv(0x30, tlv(0x04, ldap3.ALL_ATTRIBUTES.encode()))
# scope wholeSubtree(2), derefAliases neverDerefAliases(0), sizeLimit 0, timeLimit 0,
# typesOnly FALSE: what LdapBackend._directory_search asks ldap3 for.
_SEARCH_FIXED = b"\x0a\x01\x02\x0a\x01\x00\x02\x01\x00\x02\x01\x00\x01\x01\x00"


# Filters ----------------------------------------------------------------------------------
_ESCAPE = re.compile(rb"\\([0-9a-fA-F]{2})")
_BAD_BACKSLASH = re.compile(r"\\(?![0-9a-fA-F]{2})")


def _value(text: str) -> bytes | None:
    """An RFC 4515 assertion value as the bytes ldap3 sends (``\\xx`` → one byte, the
    rest UTF-8); None for a backslash ldap3 would treat specially (never produced by
    :func:`filters.escape_filter_value`)."""
    if "\\" not in text:
        return text.encode("utf-8")
    if _BAD_BACKSLASH.search(text):
        return None
    return _ESCAPE.sub(lambda m: bytes((int(m.group(1), 16),)), text.encode("utf-8"))


def encode_item(component: str) -> bytes | None:
    """One simple filter item ``(attr op value)`` as BER, exactly as ldap3's
    ``parse_filter``/``compile_filter`` would encode it; None when it is not one of the
    shapes covered (and/or/not, approx, extensible)."""
    if len(component) < 3 or component[0] != "(" or component[-1] != ")":
        return None
    inner = component[1:-1]
    if "(" in inner or ")" in inner or inner[:1] in ("&", "|", "!"):
        return None
    # Mirrors ldap3.operation.search.evaluate_match for the shapes below.
    left, eq, right = inner.strip().partition("=")
    if not eq or left.endswith(("~", ":")):
        return None
    if left.endswith((">", "<")):
        tag = 0xA5 if left.endswith(">") else 0xA6
        value = _value(right.strip())
        if value is None:
            return None
        return tlv(tag, tlv(0x04, left[:-1].strip().encode()) + tlv(0x04, value))
    attr = tlv(0x04, left.strip().encode())
    if right == "*":
        return tlv(0x87, left.strip().encode())
    if "*" in right:
        pieces = right.strip().split("*")
        subs: list[bytes] = []
        chunks = [(0x80, pieces[0])] + [(0x81, p) for p in pieces[1:-1]] + [(0x82, pieces[-1])]
        for tag, text in chunks:
            if not text:
                continue
            value = _value(text)
            if value is None:
                return None
            subs.append(tlv(tag, value))
        return tlv(0xA4, attr + tlv(0x30, b"".join(subs)))
    value = _value(right.strip())
    if value is None:
        return None
    return tlv(0xA3, attr + tlv(0x04, value))


def encode_ldap3_filter(text: str) -> bytes:
    """Any filter string through ldap3's own parser and pyasn1 encoder (used once per
    family for its constant filter, which may be any shape)."""
    from ldap3.operation.search import compile_filter, parse_filter
    from ldap3.utils.asn1 import encode

    node = parse_filter(text, None, False, True, None, False).elements[0]
    return bytes(encode(compile_filter(node)))


@dataclass(frozen=True)
class Template:
    """The constant parts of one family's SearchRequest."""

    #: baseObject .. typesOnly, encoded.
    head: bytes
    #: The family's own filter (encoded once), or None when the family has none.
    family_filter: bytes | None

    @classmethod
    def build(cls, base_dn: str, family_filter: str | None) -> Template:
        head = tlv(0x04, base_dn.encode("utf-8")) + _SEARCH_FIXED
        return cls(head, encode_ldap3_filter(family_filter) if family_filter else None)

    def filter_bytes(self, components: Sequence[str]) -> bytes | None:
        """``build_filter(family filter, components)`` encoded, or None to fall back."""
        parts = [] if self.family_filter is None else [self.family_filter]
        for component in components:
            encoded = encode_item(component)
            if encoded is None:
                return None
            parts.append(encoded)
        if not parts:
            return b"\x87\x0bobjectClass"  # build_filter's "(objectClass=*)"
        if len(parts) == 1:
            return parts[0]
        return tlv(0xA0, b"".join(parts))

    def request(self, message_id: int, filter_bytes: bytes) -> bytes:
        """A complete LDAPMessage carrying the SearchRequest."""
        body = tlv(0x63, self.head + filter_bytes + _ALL_ATTRIBUTES)
        return tlv(0x30, tlv(0x02, ber_integer(message_id)) + body)


# Decoding ---------------------------------------------------------------------------------
def _length(buf: bytes, i: int) -> tuple[int, int]:
    """``(length, offset of the value)`` of the length octets at ``i``."""
    first = buf[i]
    if first < 0x80:
        return first, i + 1
    n = first & 0x7F
    if n == 0 or n > 4:  # indefinite form is not allowed in LDAP (RFC 4511 §5.1)
        raise FastPathSurprise(f"unsupported BER length octet {first:#x}")
    end = i + 1 + n
    if end > len(buf):
        raise IndexError("length octets cut")
    return int.from_bytes(buf[i + 1 : end], "big"), end


def message_size(buf: bytes, start: int) -> int | None:
    """Bytes of the LDAPMessage starting at ``start``, or None while it is incomplete."""
    if len(buf) - start < 2:
        return None
    if buf[start] != 0x30:
        raise FastPathSurprise(f"not an LDAPMessage (tag {buf[start]:#x})")
    try:
        length, value = _length(buf, start + 1)
    except IndexError:
        return None
    end = value + length
    return end - start if end <= len(buf) else None


@dataclass
class Reply:
    """What a search's replies amount to: the entries, and the result as ldap3's
    ``conn.result`` would hold it (for :func:`backend.check_search_result`)."""

    entries: list[RawEntry]
    result: dict[str, Any]


def _expect(buf: bytes, i: int, tag: int) -> tuple[int, int]:
    if buf[i] != tag:
        raise FastPathSurprise(f"expected tag {tag:#x}, got {buf[i]:#x}")
    n = buf[i + 1]
    if n < 0x80:
        return n, i + 2
    return _length(buf, i + 1)


def decode_entry(b: bytes, i: int, end: int) -> RawEntry:
    """SearchResultEntry content ``[i, end)``: the DN and ``{attribute: [values]}``
    (names as the server sent them, in a plain dict, not ldap3's CaseInsensitiveDict:
    the backend matches attribute names case-insensitively itself).

    The hot loop: short-form lengths are read inline (a call per TLV cost ~40 % of the
    decode, measured on a 20-attribute entry)."""
    n, i = _expect(b, i, 0x04)
    dn = b[i : i + n].decode("utf-8")
    i += n
    n, i = _expect(b, i, 0x30)
    attrs_end = i + n
    raw: dict[str, list[bytes]] = {}
    while i < attrs_end:
        if b[i] != 0x30:
            raise FastPathSurprise("attribute is not a SEQUENCE")
        n = b[i + 1]  # PartialAttribute
        if n < 0x80:
            i += 2
        else:
            n, i = _length(b, i + 1)
        attr_end = i + n
        if b[i] != 0x04:
            raise FastPathSurprise("attribute type is not an OCTET STRING")
        n = b[i + 1]
        if n < 0x80:
            i += 2
        else:
            n, i = _length(b, i + 1)
        name = b[i : i + n].decode("utf-8")
        i += n
        if b[i] != 0x31:
            raise FastPathSurprise("attribute values are not a SET")
        n = b[i + 1]  # the SET ends where the PartialAttribute does (checked below)
        i += 2 if n < 0x80 else 2 + (n & 0x7F)
        values: list[bytes] = []
        while i < attr_end:
            if b[i] != 0x04:
                raise FastPathSurprise("attribute value is not an OCTET STRING")
            n = b[i + 1]
            if n < 0x80:
                i += 2
            else:
                n, i = _length(b, i + 1)
            values.append(b[i : i + n])
            i += n
        if i != attr_end:
            raise FastPathSurprise("PartialAttribute length mismatch")
        raw[name] = values
    if i != end or attrs_end > end:
        raise FastPathSurprise("SearchResultEntry length mismatch")
    return dn, raw


def decode_result(msg: bytes, i: int) -> dict[str, Any]:
    """LDAPResult content at ``i`` as ldap3's result dict (code, description, dn, message)."""
    n, i = _expect(msg, i, 0x0A)
    code = int.from_bytes(msg[i : i + n], "big", signed=True)
    i += n
    n, i = _expect(msg, i, 0x04)
    matched = msg[i : i + n].decode("utf-8", "replace")
    i += n
    n, i = _expect(msg, i, 0x04)
    message = msg[i : i + n].decode("utf-8", "replace")
    return {
        "result": code,
        "description": RESULT_CODES.get(code, "unknown"),
        "dn": matched,
        "message": message,
        "referrals": None,
        "type": "searchResDone",
    }


class Decoder:
    """Collects one search's replies from the bytes read so far (split or merged reads)."""

    def __init__(self, message_id: int) -> None:
        self.message_id = message_id
        self.buffer = bytearray()
        self.entries: list[RawEntry] = []
        self.result: dict[str, Any] | None = None

    def feed(self, data: bytes) -> bool:
        """Add received bytes; True once SearchResultDone was read."""
        buf: bytes = bytes(self.buffer) + data if self.buffer else data
        start = 0
        try:
            while self.result is None:
                size = message_size(buf, start)
                if size is None:
                    break
                self._message(buf, start, start + size)
                start += size
        except (IndexError, ValueError, UnicodeDecodeError) as exc:
            raise FastPathSurprise(f"undecodable reply: {type(exc).__name__}") from None
        if self.result is not None and start != len(buf):
            raise FastPathSurprise("bytes after SearchResultDone")
        self.buffer = bytearray(buf[start:])
        return self.result is not None

    def _message(self, b: bytes, start: int, end: int) -> None:
        _, i = _length(b, start + 1)
        n, i = _expect(b, i, 0x02)
        message_id = int.from_bytes(b[i : i + n], "big", signed=True)
        i += n
        op = b[i]
        length, value = _length(b, i + 1)
        if value + length > end:
            raise FastPathSurprise("protocol op longer than its message")
        if message_id == 0 and op == 0x78:
            # Unsolicited notification (RFC 4511 §4.4.1): the server is closing.
            raise LDAPSessionTerminatedByServerError("notice of disconnection from the server")
        if message_id != self.message_id:
            raise FastPathSurprise(f"reply to message {message_id}, expected {self.message_id}")
        if op == 0x64:
            self.entries.append(decode_entry(b, value, value + length))
        elif op == 0x65:
            self.result = decode_result(b, value)
        elif op == 0x73:
            pass  # a continuation reference: the ldap3 path skips them too
        else:
            raise FastPathSurprise(f"unexpected protocol op {op:#x}")


# The path ---------------------------------------------------------------------------------
def usable(conn: ldap3.Connection) -> bool:
    """True when the raw socket carries plain LDAP messages (no TLS, no SASL layer)."""
    sock = conn.socket
    return (
        isinstance(sock, socket.socket)
        and not isinstance(sock, ssl.SSLSocket)
        and not getattr(conn, "_digest_md5_kis", None)
        and not conn.sasl_in_progress
    )


class FastPath:
    """Per backend: the families' templates and the families it gave up on."""

    def __init__(self) -> None:
        self._templates: dict[str, Template] = {}
        self._disabled: set[str] = set()
        self._lock = threading.Lock()
        #: Searches answered here, and given back to ldap3 (tests and /metrics look).
        self.served = 0
        self.declined = 0

    def template(self, family: str, base_dn: str, family_filter: str | None) -> Template | None:
        key = family.lower()
        if key in self._disabled:
            return None
        found = self._templates.get(key)
        if found is None:
            found = Template.build(base_dn, family_filter)
            with self._lock:
                self._templates[key] = found
        return found

    def search(
        self,
        conn: ldap3.Connection,
        fmap: FamilyMap,
        components: Sequence[str],
    ) -> Reply | None:
        """The search on ``conn``'s socket, or None when ldap3's path must do it."""
        family = fmap.name
        template = self.template(family, fmap.base_dn, fmap.filter)
        filter_bytes = template.filter_bytes(components) if template is not None else None
        if template is None or filter_bytes is None or not usable(conn):
            self.declined += 1
            return None
        if conn.closed or not conn.listening:
            raise LDAPSocketOpenError("connection is not open")
        message_id = conn.server.next_message_id()
        sock: socket.socket = conn.socket
        sock.sendall(template.request(message_id, filter_bytes))
        decoder = Decoder(message_id)
        try:
            while True:
                data = sock.recv(RECV_SIZE)
                if not data:
                    raise LDAPSocketReceiveError("connection closed by the server")
                if decoder.feed(data):
                    break
        except FastPathSurprise as exc:
            with self._lock:
                self._disabled.add(family.lower())
            log.warning(
                "LDAP fast path off for family %s (%s); reads go through ldap3", family, exc
            )
            raise
        assert decoder.result is not None
        self.served += 1
        return Reply(decoder.entries, decoder.result)
