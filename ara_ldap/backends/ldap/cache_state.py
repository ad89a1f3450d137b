"""The cache's saved state: one family's sync cookie with the replica it describes.

Why: a restart that sends the saved cookie receives only the changes made since (RFC 4533
present or delete phase) instead of every entry again.  The file holds the family's
records, which may include secrets, so it is created 0600 in a 0700 directory, written to
a temporary file, fsynced and renamed (a reader sees the old or the new state, never half).

Format (version 1): JSON lines.  The first line is a header (format, version, key,
family, cookie, count); then one line per entry ``[uuid_hex, dn, entryCSN, [[field,
value], ...]]``; then ``{"end": count}``, so a truncated file is detected.  The records are
stored as mapped (not the raw LDAP attributes): the key covers the attribute map, so a
saved record is exactly what the same map would produce again.

The key is a hash of what decides the replica's contents: server URLs, base, filter, bind
DN and the family's attribute map.  A file with another key, version or a damaged body is
ignored (logged), and the cache does a full refresh.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ara_ldap.backends.ldap.mapping import FamilyMap
from ara_ldap.config import LdapBackendSettings
from ara_ldap.record import Pair, Record

log = logging.getLogger("ara_ldap.ldap.cache")

FORMAT = "ara-ldap-cache-state"
VERSION = 1


@dataclass(frozen=True)
class SavedEntry:
    uuid: bytes
    dn: str
    csn: str
    record: Record


@dataclass
class SavedState:
    cookie: bytes
    entries: list[SavedEntry]


def state_key(settings: LdapBackendSettings, fmap: FamilyMap) -> str:
    """Hash of everything that decides what the family's replica holds."""
    material = {
        "urls": list(settings.urls),
        "bind_dn": settings.bind_dn or "",
        "base": fmap.base_dn,
        "filter": fmap.filter,
        "value_order": fmap.value_order,
        "map": fmap.spec.model_dump(mode="json"),
    }
    text = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def state_path(state_dir: Path, backend: str, fmap: FamilyMap, key: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{backend}-{fmap.name}")
    return state_dir / f"{safe.lower()}-{key[:16]}.state"


def save_state(
    path: Path, key: str, family: str, cookie: bytes, entries: Iterable[SavedEntry], count: int
) -> int:
    """Write the state atomically (temp + fsync + rename, 0600); returns bytes written."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            header = {
                "format": FORMAT,
                "version": VERSION,
                "key": key,
                "family": family,
                "cookie": base64.b64encode(cookie).decode("ascii"),
                "count": count,
            }
            out.write(json.dumps(header) + "\n")
            dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
            written = 0
            for e in entries:
                out.write(dumps([e.uuid.hex(), e.dn, e.csn, e.record.pairs]))
                out.write("\n")
                written += 1
            if written != count:
                raise ValueError(f"snapshot changed while saved ({written} != {count})")
            out.write(json.dumps({"end": count}) + "\n")
            out.flush()
            os.fsync(out.fileno())
            size = out.tell()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return size


class StateUnusable(Exception):
    """The file exists but cannot be used (damaged, another version or key)."""


def load_state(path: Path, key: str) -> SavedState | None:
    """The saved state, ``None`` when there is no file; raises :class:`StateUnusable`
    (with the reason) for a file that must be ignored."""
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateUnusable(f"unreadable: {exc.strerror or exc}") from None
    with handle:
        try:
            header = json.loads(handle.readline())
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise StateUnusable("not a cache state file")
            if header.get("version") != VERSION:
                raise StateUnusable(f"format version {header.get('version')!r}, not {VERSION}")
            if header.get("key") != key:
                raise StateUnusable(
                    "saved for another server, base, filter, bind DN or attribute map"
                )
            cookie = base64.b64decode(str(header["cookie"]), validate=True)
            count = int(header["count"])
            entries = list(_entries(handle, count))
        except StateUnusable:
            raise
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise StateUnusable(f"damaged ({type(exc).__name__})") from None
    if not cookie:
        raise StateUnusable("no cookie")
    return SavedState(cookie, entries)


def _entries(lines: Iterator[str], count: int) -> Iterator[SavedEntry]:
    for _ in range(count):
        line = next(lines, None)
        if line is None:
            raise ValueError("truncated")
        uuid_hex, dn, csn, pairs = json.loads(line)
        items: list[Pair] = [(str(f), str(v)) for f, v in pairs]
        yield SavedEntry(bytes.fromhex(uuid_hex), str(dn), str(csn), Record(items))
    end = json.loads(next(lines, "null"))
    if end != {"end": count}:
        raise ValueError("truncated")


def drop_state(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
