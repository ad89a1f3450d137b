"""An HTTP client that speaks to a gateway exactly as Asterisk's res_config_curl does.

It exists so that tests (and the conformance suite) can put the gateway through what an
unmodified Asterisk sends and reads, without an Asterisk: every quirk of curl-protocol.md
§3-§5 and §15 is reproduced on purpose, bugs included.

Requests (res_config_curl.c + func_curl.c + libcurl):

* names and values encoded by ``ast_uri_encode(..., ast_uri_http)``: ``A-Za-z0-9`` and
  ``-_.!~*'()`` kept, every other byte ``%XX`` uppercase, truncated silently to Asterisk's
  fixed buffers (255 characters; 199 for update2, destroy and the static file name);
* the variadic core API's field order: the first pair first, the others *reversed*
  (``order="asterisk"``, the default); ``order="given"`` keeps the caller's order, as the
  ``*_fields`` API and sorcery do;
* update2's run-together serialisation (``?&name=foodefaultuser=foo``, body ``&host=x``);
* destroy's trailing ``&``; require's ``type%3Asize``; static as a GET;
* libcurl's headers in libcurl's order: ``Host``, ``User-Agent:
  asterisk-libcurl-agent/1.0``, ``Accept: */*``, then ``Content-Length`` and
  ``Content-Type`` for a POST; one keep-alive connection (Asterisk keeps one per thread).

Responses are read as the driver reads them: func_curl strips trailing bytes < 0x21;
single keeps only the first line and drops empty values (``ast_load_realtime``); multi
names each row by the first field's column; writes take the leading integer after
skipping bytes <= 0x20 (an empty body is Asterisk's undefined behaviour, reported here as
``-1`` with :attr:`AsteriskCurlClient.last_empty_write` set); require is C ``atoi`` (an
empty body is success); static inherits missing keys from the previous line.  Transport
errors and ``failurecodes`` statuses give an empty body, as ``CURL()`` does.

Not emulated: the ``CURL()`` argument splitter's handling of unbalanced parentheses in
update keys (§5.3), and ``#include`` of files that are not mapped to this gateway.
"""

from __future__ import annotations

import base64
import http.client
import re
import socket
import ssl
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Literal
from urllib.parse import urlsplit

from ara_ldap.backends.base import Requirement
from ara_ldap.record import Record
from ara_ldap.static import Category

USER_AGENT = "asterisk-libcurl-agent/1.0"
Order = Literal["asterisk", "given"]
PairsLike = Mapping[str, str] | Sequence[tuple[str, str]]

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_LEADING_INT = re.compile(rb"^\s*([+-]?\d{1,30})")


def ast_uri_encode(text: str, buflen: int = 256) -> str:
    """``ast_uri_encode(text, buf, buflen, ast_uri_http)``, truncation included."""
    out: list[str] = []
    used = 0
    for byte in text.encode("utf-8"):
        if used >= buflen - 1:
            break
        if byte in _UNRESERVED:
            out.append(chr(byte))
            used += 1
        else:
            if used >= buflen - 3:
                break
            out.append(f"%{byte:02X}")
            used += 3
    return "".join(out)


def ast_uri_decode(text: bytes) -> bytes:
    """``ast_uri_decode(s, ast_uri_http)``: ``%`` + hex via ``sscanf("%2x")`` (one hex digit
    followed by a non-hex still consumes two characters), everything else literal, ``+``
    stays ``+``."""
    out = bytearray()
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == 0x25 and i + 1 < n:
            digits = text[i + 1 : i + 3]
            hexpart = bytearray()
            for d in digits:
                if d in _HEX:
                    hexpart.append(d)
                else:
                    break
            if hexpart:
                out.append(int(hexpart, 16))
                i += 3
                continue
        out.append(ch)
        i += 1
    return bytes(out)


def _c_string(raw: bytes) -> str:
    """What C sees: the bytes up to the first NUL, as text."""
    cut = raw.find(b"\x00")
    if cut >= 0:
        raw = raw[:cut]
    return raw.decode("utf-8", "replace")


def _strip_trailing(body: bytes) -> bytes:
    """func_curl: trailing bytes < 0x21 are removed from the whole body."""
    end = len(body)
    while end and body[end - 1] < 0x21:
        end -= 1
    return body[:end]


def _as_pairs(fields: PairsLike) -> list[tuple[str, str]]:
    if isinstance(fields, Mapping):
        return list(fields.items())
    return [(str(n), str(v)) for n, v in fields]


def asterisk_order(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The variadic realtime API's list: first pair first, the rest reversed (§3.3)."""
    if len(pairs) < 2:
        return list(pairs)
    return [pairs[0], *reversed(pairs[1:])]


def _parse_pairs(line: bytes) -> list[tuple[str, str]]:
    """One line as the driver parses it: ``&``-split, first ``=``, decoded, empty keys
    dropped, a pair without ``=`` has the value ``""``."""
    out: list[tuple[str, str]] = []
    for pair in line.split(b"&"):
        key, sep, value = pair.partition(b"=")
        name = _c_string(ast_uri_decode(key))
        if not name:
            continue
        out.append((name, _c_string(ast_uri_decode(value)) if sep else ""))
    return out


class AsteriskCurlClient:
    """Realtime calls over HTTP, encoded and decoded as res_config_curl does.

    ``base_url`` is ``http://HOST:PORT[/prefix]``; family ``F`` is then served at
    ``base_url/F``, as ``F => curl,base_url/F`` in extconfig.conf.
    """

    def __init__(
        self,
        base_url: str,
        *,
        order: Order = "asterisk",
        timeout: float = 10.0,
        failure_codes: Collection[int] = (),
        userpwd: tuple[str, str] | None = None,
        user_agent: str = USER_AGENT,
        cafile: str | None = None,
        certfile: str | None = None,
        keyfile: str | None = None,
    ) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected http(s)://HOST:PORT[/prefix], got {base_url!r}")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path
        self.order: Order = order
        self.timeout = timeout
        self.failure_codes = frozenset(failure_codes)
        self.user_agent = user_agent
        #: ``ssl_cainfo``: verify the gateway's certificate against this CA file.
        self.cafile = cafile
        #: ``ssl_cert`` / ``ssl_key``: the client certificate presented (mutual TLS).
        self.certfile = certfile
        self.keyfile = keyfile
        if parts.username is not None and userpwd is None:
            userpwd = (parts.username, parts.password or "")
        self._auth = (
            "Basic " + base64.b64encode(f"{userpwd[0]}:{userpwd[1]}".encode()).decode()
            if userpwd
            else None
        )
        self._conn: http.client.HTTPConnection | None = None
        #: The last response as received: status (None on a transport error) and body.
        self.last_status: int | None = None
        self.last_body = b""
        #: The last request line target and body, as sent.
        self.last_target = ""
        self.last_request_body: bytes | None = None
        #: True when the last write got an empty body (Asterisk's undefined behaviour).
        self.last_empty_write = False
        self.connections_opened = 0

    # Transport --------------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.scheme == "https":
                context = ssl.create_default_context(cafile=self.cafile)
                if self.certfile is not None:
                    context.load_cert_chain(self.certfile, self.keyfile)
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout, context=context
                )
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.connections_opened += 1
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> AsteriskCurlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    def request(self, target: str, body: str | None) -> bytes:
        """``CURL(url[,postdata])``: the body as a string, or ``b""`` on any failure."""
        self.last_target = target
        data = body.encode("ascii") if body is not None else None
        self.last_request_body = data
        for attempt in (1, 2):  # libcurl retries once when a reused connection was dead
            conn = self._connection()
            reused = conn.sock is not None
            try:
                conn.putrequest(
                    "POST" if data is not None else "GET",
                    target,
                    skip_host=True,
                    skip_accept_encoding=True,
                )
                conn.putheader("Host", self._host_header())
                if self._auth:
                    conn.putheader("Authorization", self._auth)
                conn.putheader("User-Agent", self.user_agent)
                conn.putheader("Accept", "*/*")
                if data is not None:
                    conn.putheader("Content-Length", str(len(data)))
                    conn.putheader("Content-Type", "application/x-www-form-urlencoded")
                conn.endheaders(data)
                response = conn.getresponse()
                payload = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if reused and attempt == 1:
                    continue
                return self._failed()
            except (OSError, http.client.HTTPException):
                self.close()
                return self._failed()
            self.last_status = response.status
            self.last_body = payload
            if response.will_close:
                self.close()
            if response.status in self.failure_codes:
                return b""
            return _strip_trailing(payload)
        return self._failed()  # pragma: no cover - the loop always returns

    def _failed(self) -> bytes:
        self.last_status = None
        self.last_body = b""
        return b""

    def _url(self, family: str, operation: str) -> str:
        return f"{self.prefix}/{family}/{operation}"

    def _fields(self, fields: PairsLike, buflen: int = 256) -> list[str]:
        pairs = _as_pairs(fields)
        if self.order == "asterisk":
            pairs = asterisk_order(pairs)
        return [f"{ast_uri_encode(n, buflen)}={ast_uri_encode(v, buflen)}" for n, v in pairs]

    # Reads ------------------------------------------------------------------------------
    def single(self, family: str, fields: PairsLike, *, keep_empty: bool = False) -> Record | None:
        """``ast_load_realtime`` (or ``ast_load_realtime_all`` with ``keep_empty``)."""
        body = self.request(self._url(family, "single"), "&".join(self._fields(fields)))
        if not body:
            return None
        for sep in (b"\r", b"\n"):
            cut = body.find(sep)
            if cut >= 0:
                body = body[:cut]
                break
        pairs = _parse_pairs(body)
        if not keep_empty:
            pairs = [(n, "" if v == " " else v) for n, v in pairs if v != ""]
        return Record(pairs) if pairs else None

    def multi_named(self, family: str, fields: PairsLike) -> list[tuple[str, Record]]:
        """``ast_load_realtime_multientry``: ``(category name, record)`` per row; the name is
        the row's value of the first field's column (operator cut at the first space)."""
        encoded = self._fields(fields)
        first = _as_pairs(fields)
        initfield = first[0][0].split(" ", 1)[0].lower() if first else ""
        body = self.request(self._url(family, "multi"), "&".join(encoded))
        rows: list[tuple[str, Record]] = []
        for line in re.split(rb"[\r\n]", body):
            if not line:
                continue
            name = ""
            pairs = []
            for pair in line.split(b"&"):
                key, sep, value = pair.partition(b"=")
                k = _c_string(ast_uri_decode(key))
                v = _c_string(ast_uri_decode(value)) if sep else ""
                if sep and k.lower() == initfield:
                    name = v
                if k:
                    pairs.append((k, v))
            rows.append((name, Record(pairs)))
        return rows

    def multi(self, family: str, fields: PairsLike) -> list[Record]:
        return [record for _, record in self.multi_named(family, fields)]

    # Writes -----------------------------------------------------------------------------
    def _rowcount(self, body: bytes) -> int:
        """update_curl & co: skip bytes <= 0x20 (signed char), ``sscanf("%30d")``."""
        self.last_empty_write = not body
        i = 0
        while i < len(body) and (body[i] <= 0x20 or body[i] >= 0x80):
            i += 1
        m = _LEADING_INT.match(body[i:])
        if not m:
            return -1
        value = int(m.group(1))
        return value if value >= 0 else -1

    def update(self, family: str, keyfield: str, lookup: str, changes: PairsLike) -> int:
        """``ast_update_realtime``: ``/update?key=value`` with the changes in the body."""
        key = f"{ast_uri_encode(keyfield)}={ast_uri_encode(lookup)}"
        target = f"{self._url(family, 'update')}?{key}"
        return self._rowcount(self.request(target, "&".join(self._fields(changes))))

    def update2(self, family: str, lookup: PairsLike, changes: PairsLike) -> int:
        """``ast_update2_realtime``, serialised with res_config_curl's inverted separator
        logic: a ``&`` before each group's first pair, nothing between later pairs."""

        def group(fields: PairsLike) -> str:
            return "&" + "".join(self._fields(fields, buflen=200))

        target = f"{self._url(family, 'update')}?{group(lookup)}"
        return self._rowcount(self.request(target, group(changes)))

    def store(self, family: str, record: PairsLike) -> int:
        """``ast_store_realtime``: the new row in the body."""
        return self._rowcount(
            self.request(self._url(family, "store"), "&".join(self._fields(record)))
        )

    def destroy(self, family: str, fields: PairsLike) -> int:
        """``ast_destroy_realtime(family, key, value, ...)``: the first pair is the key,
        always followed by ``&`` (a stray one when there are no more fields)."""
        pairs = _as_pairs(fields)
        if not pairs:
            raise ValueError("destroy needs a key field")
        key, value = pairs[0]
        rest = pairs[1:]
        if self.order == "asterisk" and len(rest) > 1:
            rest = [rest[0], *reversed(rest[1:])]
        head = f"{ast_uri_encode(key, 200)}={ast_uri_encode(value, 200)}&"
        tail = "&".join(f"{ast_uri_encode(n, 200)}={ast_uri_encode(v, 200)}" for n, v in rest)
        return self._rowcount(self.request(self._url(family, "destroy"), head + tail))

    def require(self, family: str, requirements: Iterable[Requirement]) -> int:
        """``ast_realtime_require_field``: ``col=type%3Asize&...``; the answer through C
        ``atoi`` (0 = the store can hold it; an empty body also reads as 0)."""
        body = "&".join(
            f"{ast_uri_encode(r.field)}={r.type.value}%3A{r.size}" for r in requirements
        )
        answer = self.request(self._url(family, "require"), body)
        m = _LEADING_INT.match(answer)
        return int(m.group(1)) if m else 0

    # Static -----------------------------------------------------------------------------
    def static(self, filename: str, family: str = "ast_config") -> list[Category]:
        """``config_curl``: ``GET .../static?file=NAME``, lines to categories.  Keys missing
        from a line keep the previous line's values; a new category starts when the name
        or ``cat_metric`` changes; ``#include`` loads the file through this gateway and
        then also adds a variable named ``#include``, as curl does."""
        return self._static(filename, family, [])

    def _static(self, filename: str, family: str, out: list[Category]) -> list[Category]:
        target = f"{self._url(family, 'static')}?file={ast_uri_encode(filename, 200)}"
        body = self.request(target, None)
        category, var_name, var_val, cat_metric = "", "", "", -1
        current: Category | None = None
        last_metric = -1
        for line in re.split(rb"[\r\n]", body):
            if not line:
                continue
            for pair in line.split(b"&"):
                key, sep, value = pair.partition(b"=")
                k = _c_string(ast_uri_decode(key)).lower()
                v = _c_string(ast_uri_decode(value)) if sep else ""
                if k == "category":
                    category = v
                elif k == "var_name":
                    var_name = v
                elif k == "var_val":
                    var_val = v
                elif k == "cat_metric":
                    m = _LEADING_INT.match(v.encode())
                    cat_metric = int(m.group(1)) if m else 0
            if var_name == "#include":  # loaded first; the variable goes to the current
                self._static(var_val, family, out)  # category, as config_curl does
            if current is None or current.name != category or last_metric != cat_metric:
                current = Category(category, cat_metric)
                last_metric = cat_metric
                out.append(current)
            current.variables.append((var_name, var_val))
        return out


# Priority failover (extconfig.conf) ---------------------------------------------------------


class PriorityFailover:
    """Realtime calls over several ``family => curl,URL,,PRIORITY`` mappings of one family,
    with the core's failover loop between them, as Asterisk does it: each client is one
    priority (1, 2, ...) and is asked in turn until the rule of the operation says stop.

    The rules are ``main/config.c``'s (``ast_load_realtime_all_fields``,
    ``ast_load_realtime_multientry_fields``, ``ast_update_realtime``,
    ``ast_update2_realtime``, ``ast_store_realtime``, ``ast_destroy_realtime``,
    ``ast_realtime_require_field`` in ``asterisk/asterisk`` at ``f0c1c1a7b7``;
    realtime-api.md §11.2-§11.3, curl-protocol.md §1.2), applied to what
    ``res_config_curl`` returns:

    * single: the next priority when the driver returns NULL, i.e. when the first line of
      the body has no key (an empty body: "not found" and "gateway down" alike); the
      core's empty-value filter runs after the loop;
    * multi: never fails over: the curl driver always returns a config object, possibly
      empty, and the loop stops at the first non-NULL one;
    * update, store, destroy: the next priority while the result is < 0;
    * update2: the next priority unless the result is exactly 0 (so a successful update2
      that changed rows is sent to the next priority too); the last result is returned;
    * require: the first priority that answers 0 wins; -1 if none does;
    * static: priority 1 only (static loading has no failover).
    """

    def __init__(self, clients: Sequence[AsteriskCurlClient]) -> None:
        if not clients:
            raise ValueError("give one client per priority, priority 1 first")
        self.clients = list(clients)
        #: The priority (1-based) that gave the last answer (or the last one tried).
        self.answered_by = 0

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def __enter__(self) -> PriorityFailover:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def single(self, family: str, fields: PairsLike, *, keep_empty: bool = False) -> Record | None:
        """``ast_load_realtime`` (``keep_empty``: ``ast_load_realtime_all``)."""
        for priority, client in enumerate(self.clients, 1):
            self.answered_by = priority
            found = client.single(family, fields, keep_empty=True)  # the driver's result
            if found is not None:
                if keep_empty:
                    return found
                pairs = [(n, "" if v == " " else v) for n, v in found if v != ""]
                return Record(pairs) if pairs else None
        return None

    def multi_named(self, family: str, fields: PairsLike) -> list[tuple[str, Record]]:
        """``ast_load_realtime_multientry``: priority 1's answer, even empty (see above)."""
        self.answered_by = 1
        return self.clients[0].multi_named(family, fields)

    def multi(self, family: str, fields: PairsLike) -> list[Record]:
        return [record for _, record in self.multi_named(family, fields)]

    def _while_negative(self, call: Callable[[AsteriskCurlClient], int]) -> int:
        result = -1
        for priority, client in enumerate(self.clients, 1):
            self.answered_by = priority
            result = call(client)
            if result >= 0:
                break
        return result

    def update(self, family: str, keyfield: str, lookup: str, changes: PairsLike) -> int:
        return self._while_negative(lambda c: c.update(family, keyfield, lookup, changes))

    def store(self, family: str, record: PairsLike) -> int:
        return self._while_negative(lambda c: c.store(family, record))

    def destroy(self, family: str, fields: PairsLike) -> int:
        return self._while_negative(lambda c: c.destroy(family, fields))

    def update2(self, family: str, lookup: PairsLike, changes: PairsLike) -> int:
        result = -1
        for priority, client in enumerate(self.clients, 1):
            self.answered_by = priority
            result = client.update2(family, lookup, changes)
            if result == 0:
                break
        return result

    def require(self, family: str, requirements: Iterable[Requirement]) -> int:
        wanted = list(requirements)
        for priority, client in enumerate(self.clients, 1):
            self.answered_by = priority
            if client.require(family, wanted) == 0:
                return 0
        return -1

    def static(self, filename: str, family: str = "ast_config") -> list[Category]:
        self.answered_by = 1
        return self.clients[0].static(filename, family)


# Raw wire helpers (byte-exact replays) ---------------------------------------------------------


def raw_request(
    host: str, target: bytes, body: bytes | None, extra_headers: Sequence[bytes] = ()
) -> bytes:
    """The request bytes libcurl 7.88.1 put on the wire for Asterisk 20.20.1 (§15):
    request line, ``Host``, ``User-Agent``, ``Accept``, then ``Content-Length`` and
    ``Content-Type`` for a POST, CRLF everywhere.  ``host`` is the Host value
    (``127.0.0.1:8389``); ``extra_headers`` go after ``Host`` (e.g. Authorization)."""
    method = b"POST" if body is not None else b"GET"
    lines = [
        method + b" " + target + b" HTTP/1.1",
        b"Host: " + host.encode("ascii"),
        *extra_headers,
        b"User-Agent: " + USER_AGENT.encode(),
        b"Accept: */*",
    ]
    if body is not None:
        lines += [
            b"Content-Length: " + str(len(body)).encode("ascii"),
            b"Content-Type: application/x-www-form-urlencoded",
        ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


def read_raw_response(sock: socket.socket) -> bytes:
    """Read one complete response (headers and a Content-Length body) as raw bytes."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed after {data[:200]!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed inside the body")
        rest += chunk
    if len(rest) > length:
        raise ValueError("more bytes than Content-Length")
    return head + b"\r\n\r\n" + rest
