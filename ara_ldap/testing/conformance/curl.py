"""The res_config_curl gateway as a conformance front door.

:class:`CurlRealtime` gives :class:`~ara_ldap.testing.curl_client.AsteriskCurlClient`
(which encodes and decodes exactly as an unmodified Asterisk does) the Realtime API the
cases call, and turns what the wire says back into the core's outcomes:

=====================  ====================================  =========================
wire                   meaning                               raised / returned
=====================  ====================================  =========================
404                    unknown family                        :class:`UnknownFamily`
409                    duplicate key                         :class:`Conflict`
400                    request cannot be right               :class:`BadRequest`
``failure_status``     backend failed (reads)                :class:`BackendError`
``-1`` with 200        backend failed (writes)               :class:`BackendError`
empty body             not found                             ``None`` / ``[]``
empty static body      file not stored                       :class:`NotFound`
=====================  ====================================  =========================

Requests keep the caller's field order (``order="given"``, as Asterisk's ``*_fields``
API and sorcery send them); the variadic API would reverse all pairs after the first,
which reorders codec lists before they reach the gateway.

The wire carries no more than that, so the gateway target declares
``detailed_errors=False``: cases that check *which* bad request (UnknownField) or the
text of a ``require`` problem are skipped there, not failed.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ara_ldap.backends.base import Requirement
from ara_ldap.criteria import CriteriaLike, Criterion
from ara_ldap.errors import (
    BackendError,
    BadRequest,
    Conflict,
    NotFound,
    UnknownFamily,
)
from ara_ldap.record import Record
from ara_ldap.static import StaticConfig
from ara_ldap.testing.conformance.loaders import Target
from ara_ldap.testing.conformance.requirements import Changes

__all__ = ["FAILURE_STATUS", "CurlRealtime", "gateway_target"]

#: The ``failure_status`` the gateway target is started with, so a failed read is told
#: apart from "not found" (Asterisk would list it in res_curl.conf ``failurecodes``).
FAILURE_STATUS = 503


def _pairs(criteria: CriteriaLike | Changes) -> list[tuple[str, str]]:
    """Criteria or changes as wire pairs (an operator goes back into the field name)."""
    if isinstance(criteria, Mapping):
        return [(str(k), str(v)) for k, v in criteria.items()]
    out: list[tuple[str, str]] = []
    for item in criteria:
        if isinstance(item, Criterion):
            name = item.field if item.op.value == "=" else f"{item.field} {item.op.value}"
            out.append((name, item.value))
        else:
            name, value = item
            out.append((str(name), str(value)))
    return out


class CurlRealtime:
    """The Realtime API over HTTP, as Asterisk would call it through res_config_curl."""

    def __init__(self, client: Any, static_family: str = "ast_config") -> None:
        self.client = client
        self.static_family = static_family

    def _raise_for_status(self, what: str) -> None:
        status = self.client.last_status
        if status == 404:
            raise UnknownFamily(f"{what}: the gateway answered 404 (unknown family)")
        if status == 409:
            raise Conflict(f"{what}: the gateway answered 409 (duplicate key)")
        if status == 400:
            raise BadRequest(f"{what}: the gateway answered 400 (bad request)")
        if status == FAILURE_STATUS:
            raise BackendError(f"{what}: the gateway answered {status} (backend failure)")
        if status is None:
            raise BackendError(f"{what}: no answer from the gateway")

    def _count(self, what: str, count: int) -> int:
        if count < 0:
            self._raise_for_status(what)
            raise BackendError(f"{what}: the gateway answered -1 (backend failure)")
        return count

    # Reads --------------------------------------------------------------------------------
    def single(self, family: str, criteria: CriteriaLike) -> Record | None:
        found: Record | None = self.client.single(family, _pairs(criteria))
        if found is None:
            self._raise_for_status(f"single {family}")
        return found

    def multi(self, family: str, criteria: CriteriaLike) -> list[Record]:
        found: list[Record] = self.client.multi(family, _pairs(criteria))
        if not found:
            self._raise_for_status(f"multi {family}")
        return found

    def static(self, filename: str) -> StaticConfig:
        categories = self.client.static(filename, self.static_family)
        if not categories:
            self._raise_for_status(f"static {filename}")
            raise NotFound(f"static {filename}: empty answer (file not stored)")
        return StaticConfig(filename, list(categories))

    # Writes -------------------------------------------------------------------------------
    def update(self, family: str, keyfield: str, lookup: str, changes: Changes) -> int:
        count = self.client.update(family, keyfield, lookup, _pairs(changes))
        return self._count(f"update {family}", count)

    def update2(self, family: str, criteria: CriteriaLike, changes: Changes) -> int:
        count = self.client.update2(family, _pairs(criteria), _pairs(changes))
        return self._count(f"update2 {family}", count)

    def store(self, family: str, record: Changes) -> int:
        return self._count(f"store {family}", self.client.store(family, _pairs(record)))

    def destroy(self, family: str, criteria: CriteriaLike) -> int:
        pairs = _pairs(criteria)
        if not pairs:  # Asterisk's API cannot even send this: the key field is an argument
            raise BadRequest("a destroy needs at least one field to match on")
        return self._count(f"destroy {family}", self.client.destroy(family, pairs))

    def require(self, family: str, requirements: Sequence[Requirement]) -> list[str]:
        answer = self.client.require(family, requirements)
        if answer == 0:
            return []
        self._raise_for_status(f"require {family}")
        return [f"require {family}: the gateway answered {answer} (some field cannot fit)"]

    def close(self) -> None:
        self.client.close()


@contextlib.contextmanager
def gateway_target(inner: Target, name: str | None = None) -> Iterator[Target]:
    """The gateway (the real ASGI app on uvicorn, a free loopback port) in front of
    ``inner``'s Realtime, and a :class:`CurlRealtime` talking to it like Asterisk.

    ``inner`` keeps owning the data set: reloads go straight to its store.
    """
    from ara_ldap.gateway.app import GatewayApp
    from ara_ldap.gateway.server import GatewayServer
    from ara_ldap.realtime import Realtime
    from ara_ldap.testing.curl_client import AsteriskCurlClient

    realtime = inner.realtime
    if not isinstance(realtime, Realtime):
        raise TypeError(f"the gateway needs a Realtime behind it, not {type(realtime).__name__}")
    app = GatewayApp(realtime, failure_status=FAILURE_STATUS, workers=2)
    server = GatewayServer(app, host="127.0.0.1", port=0, graceful_timeout=2.0)
    server.start()
    # order="given": the *_fields API (sorcery) keeps the caller's order.  The variadic API
    # reverses every pair after the first, so a codec list written through it arrives
    # reordered before the gateway sees it: Asterisk's doing, not the gateway's.
    client = AsteriskCurlClient(server.url, order="given")
    try:
        yield Target(
            name or f"gateway-{inner.name}",
            CurlRealtime(client),
            dataclasses.replace(inner.capabilities, detailed_errors=False),
            inner.reload,
            extra={"inner": inner, "server": server, "client": client},
        )
    finally:
        client.close()
        server.stop()
