"""The res_config_curl gateway: Asterisk's realtime-over-HTTP protocol served from a
:class:`~ara_ldap.realtime.Realtime` (reference: curl-protocol.md, docs/gateway.md).

* :mod:`ara_ldap.gateway.protocol`: the wire codec (pure functions, no I/O);
* :mod:`ara_ldap.gateway.app`: the ASGI application (routing, limits, auth, failures);
* :mod:`ara_ldap.gateway.metrics`: Prometheus text counters and histograms;
* :mod:`ara_ldap.gateway.server`: uvicorn wiring and graceful shutdown;
* :mod:`ara_ldap.gateway.commands`: ``ara-ldap serve`` and ``ara-ldap extconfig``.

Only :mod:`server` needs uvicorn; the codec and the app import nothing beyond the core.
"""

from __future__ import annotations
