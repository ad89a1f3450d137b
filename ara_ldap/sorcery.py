"""The ``sorcery.conf`` lines for the families that serve PJSIP objects, with cache advice.

Which family serves which sorcery object comes from each family's ``sorcery`` setting
(``section/type``), never from its name: sorcery lets a site call its families anything
(pjsip.md 2.1).  The cache advice follows pjsip.md 2.2, 2.4 and 5.9: ``memory_cache``
serves only retrieve-by-id, so it pays off for objects read by id on every request
(endpoint, auth, aor, domain alias); identify is fetched *whole* per out-of-dialog request
(``id LIKE %``), so it needs ``full_backend_cache=yes``; contacts are written on every
REGISTER and global/system are read once at load, so caching them buys nothing.
"""

from __future__ import annotations

from ara_ldap.config import Settings, backend_families

#: Per-object cache: a stale object is served while a background refresh runs, so a
#: directory change reaches Asterisk within the maximum lifetime (or at module reload).
OBJECT_CACHE = (
    "memory_cache,object_lifetime_stale=300,object_lifetime_maximum=600,expire_on_reload=yes"
)
#: identify: the whole set in memory, refreshed as a whole.
FULL_CACHE = (
    "memory_cache,full_backend_cache=yes,object_lifetime_maximum=600,expire_on_reload=yes"
)
#: Why each kind of object is (not) cached, printed above its lines.
_ADVICE = {
    "endpoint": ("cached: read by id on every request and REGISTER", OBJECT_CACHE),
    "auth": ("cached: read by id twice per challenged request", OBJECT_CACHE),
    "aor": ("cached: read by id on every REGISTER and outgoing call", OBJECT_CACHE),
    "domain_alias": ("cached: read by id per request with a domain", OBJECT_CACHE),
    "identify": (
        "full_backend_cache: identify is fetched whole (id LIKE %) per out-of-dialog request",
        FULL_CACHE,
    ),
    "contact": (
        "not cached: written on every REGISTER.\n; Leave this line out to keep contacts "
        "in each Asterisk's astdb (the default,\n; no directory writes) unless several "
        "servers share registrations.",
        None,
    ),
    "global": ("not cached: read once at load", None),
    "system": ("read once at load and not reloadable: prefer pjsip.conf", None),
}


def sorcery_types(settings: Settings) -> dict[str, list[tuple[str, str]]]:
    """``{section: [(object type, family)]}`` for the routed families that serve sorcery
    objects, in family order."""
    routes = settings.routes()
    out: dict[str, list[tuple[str, str]]] = {}
    for family in sorted(routes):
        for name in routes[family].backends:
            backend = settings.backends[name]
            if family not in backend_families(backend):
                continue
            spec = backend.families[family]
            if spec.sorcery:
                section, _, kind = spec.sorcery.partition("/")
                out.setdefault(section, []).append((kind, family))
                break
    return out


def sorcery_conf_lines(settings: Settings) -> list[str]:
    """The ``sorcery.conf`` sections, or ``[]`` when no family serves a sorcery object."""
    sections = sorcery_types(settings)
    if not sections:
        return []
    out = [
        "; ---- sorcery.conf ----",
        "; Each object type read through realtime from its family (extconfig.conf above).",
        "; Caches serve retrieve-by-id only; 'sorcery memory cache expire <cache>' drops one.",
    ]
    for section, kinds in sections.items():
        out += ["", f"[{section}]"]
        for kind, family in kinds:
            why, cache = _ADVICE.get(kind, ("not cached: read at load or rarely", None))
            out.append(f"; {kind}: {why}")
            line = f"{kind}=realtime,{family}"
            if kind == "system":
                out.append(f";{line}")
                continue
            if cache is not None:
                out.append(f"{kind}/cache={cache}")
            out.append(line)
    return out
