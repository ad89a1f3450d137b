"""The res_config_curl gateway: Asterisk's realtime-over-HTTP protocol served from a
:class:`~ara_ldap.realtime.Realtime` (reference: curl-protocol.md, docs/gateway.md).

* :mod:`ara_ldap.gateway.protocol`: the wire codec (pure functions, no I/O);
* :mod:`ara_ldap.gateway.app`: the application, transport-neutral (routing, auth,
  failures, the worker threads), with a thin ASGI adapter;
* :mod:`ara_ldap.gateway.httpserver`: the lean HTTP/1.1 server (httptools) it runs on;
* :mod:`ara_ldap.gateway.metrics`: Prometheus text counters and histograms;
* :mod:`ara_ldap.gateway.server`: one serving process, graceful shutdown;
* :mod:`ara_ldap.gateway.uvicorn_server`: the same app on uvicorn (for comparison);
* :mod:`ara_ldap.gateway.commands`: ``ara-ldap serve`` and ``ara-ldap extconfig``.

Only :mod:`uvicorn_server` needs uvicorn; the codec and the app import nothing beyond
the core.
"""

from __future__ import annotations
