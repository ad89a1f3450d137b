"""Which AMI actions a directory change calls for (pure: no I/O, easy to test).

- a row of a static file (the static family, or one named in ``static.files``): ``Reload``
  of the module that reads the file (``notify.modules`` over the defaults);
- a peer of a family listed in ``notify.rtcachefriends``: ``Command: sip prune realtime
  peer NAME`` for the name it had (chan_sip caches the peers it has loaded);
- an object of a family whose ``sorcery`` type has a cache in ``notify.sorcery_caches``:
  ``SorceryMemoryCacheExpireObject`` for the id it had.

An add needs nothing in the last two cases: neither cache keeps a "not found", so the new
object is read on its first lookup.  Anything else maps to no action.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ara_ldap.config import NotifySettings, StaticSettings
from ara_ldap.record import Record


@dataclass(frozen=True)
class Action:
    """One AMI action; equal actions within a batch are sent once."""

    name: str
    fields: tuple[tuple[str, str], ...]

    def describe(self) -> str:
        """As the wire shows it, minus the ActionID (what ``--dry-run`` prints)."""
        return "".join(f"{k}: {v}\n" for k, v in (("Action", self.name), *self.fields))


def reload(module: str) -> Action:
    return Action("Reload", (("Module", module),))


def prune_peer(name: str) -> Action:
    return Action("Command", (("Command", f"sip prune realtime peer {name}"),))


def expire_object(cache: str, object_id: str) -> Action:
    return Action("SorceryMemoryCacheExpireObject", (("Cache", cache), ("Object", object_id)))


class Rules:
    """The change → actions mapping of one configuration."""

    def __init__(
        self,
        notify: NotifySettings,
        static: StaticSettings,
        sorcery: Mapping[str, str | None],
    ) -> None:
        """``sorcery``: family → its ``sorcery`` setting (``res_pjsip/endpoint``)."""
        self.modules = notify.reload_modules()
        self.static_families = {static.family.lower()} | {f.lower() for f in static.files.values()}
        self.peer_families = {f.lower() for f in notify.rtcachefriends}
        self.caches: dict[str, str] = {}
        for family, spec in sorcery.items():
            if spec:
                cache = notify.sorcery_caches.get(spec.rsplit("/", 1)[-1])
                if cache:
                    self.caches[family.lower()] = cache

    def families(self) -> set[str]:
        """Families whose changes can lead to an action (lowercase)."""
        return self.static_families | self.peer_families | set(self.caches)

    def actions(
        self, family: str, kind: str, before: Record | None, after: Record | None
    ) -> list[Action]:
        fam = family.lower()
        out: list[Action] = []
        if fam in self.static_families:
            for rec in (before, after):
                filename = rec.get("filename") if rec is not None else None
                module = self.modules.get(filename.lower()) if filename else None
                if module:
                    out.append(reload(module))
        if kind == "add":
            return _unique(out)
        if fam in self.peer_families and before is not None:
            name = before.get("name")
            if name:
                out.append(prune_peer(name))
        cache = self.caches.get(fam)
        if cache and before is not None:
            object_id = before.get("id")
            if object_id:
                out.append(expire_object(cache, object_id))
        return _unique(out)


def _unique(actions: list[Action]) -> list[Action]:
    return list(dict.fromkeys(actions))
