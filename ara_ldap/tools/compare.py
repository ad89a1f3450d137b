"""``ara-ldap compare``: one realtime call on two backends, answers side by side.

Sites moving from SQL to a directory need to see, on their own data, that both answer the
same.  Each backend is wrapped in its own :class:`~ara_ldap.realtime.Realtime` routed to it
alone, so the comparison goes through exactly the code Asterisk's requests go through.
Only reads are compared (``load``, ``multi``, ``static``, ``require``): a write would change
both stores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ara_ldap.backends.base import Backend, Requirement
from ara_ldap.config import Route, Settings
from ara_ldap.errors import AraError, BadRequest, ConfigError, describe_value
from ara_ldap.realtime import Realtime
from ara_ldap.record import Record

SAME, DIFFERENT, LEFT_ONLY, RIGHT_ONLY = " ", "≠", "<", ">"


@dataclass
class Side:
    name: str
    realtime: Realtime


@dataclass
class Comparison:
    """Rendered lines and the number of differing lines."""

    lines: list[str]
    differences: int


def sides(
    settings: Settings, backends: dict[str, Backend], names: Sequence[str] | None
) -> tuple[Side, Side]:
    """The two backends to compare: named ones, or the first two configured."""
    chosen = list(names) if names else list(settings.backends)[:2]
    if len(chosen) != 2:
        raise ConfigError(
            "compare needs two backends: configure two under 'backends' or name them with "
            "--backends A,B"
        )
    out = []
    for name in chosen:
        if name not in backends:
            raise ConfigError(
                f"backend {name!r} is not configured (configured: {', '.join(backends)})"
            )
        backend = backends[name]
        routes = {family: Route(backends=[name]) for family in backend.families()}
        out.append(Side(name, Realtime({name: backend}, routes, settings.static)))
    return out[0], out[1]


def _cell(text: str | None, width: int) -> str:
    if text is None:
        return "-".ljust(width)
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text.ljust(width)


def _width(*answers: object) -> int:
    """Column width: the longest value shown (12 to 60 characters)."""
    longest = 12
    for answer in answers:
        records = answer if isinstance(answer, list) else [answer]
        for item in records:
            if isinstance(item, Record):
                longest = max([longest, *(len(v) for _, v in item)])
            elif isinstance(item, str):
                longest = max([longest, *(len(line) for line in item.splitlines())])
    return min(60, longest)


def compare_records(
    left: Record | None,
    right: Record | None,
    secret_fields: set[str],
    width: int | None = None,
    show_secrets: bool = False,
) -> Comparison:
    """Field by field, value by value (value order matters: codec lists)."""
    if width is None:
        longest = max((len(v) for r in (left, right) if r for _, v in r), default=12)
        width = max(12, min(60, longest))
    lines: list[str] = []
    differences = 0
    left_groups = left.grouped() if left else {}
    right_groups = right.grouped() if right else {}
    right_keys = {k.lower(): k for k in right_groups}
    fields = list(left_groups)
    fields += [k for k in right_groups if k.lower() not in {f.lower() for f in fields}]
    for field in fields:
        lvals = left_groups.get(field) or []
        rvals = right_groups.get(right_keys.get(field.lower(), field)) or []
        for i in range(max(len(lvals), len(rvals))):
            lv = lvals[i] if i < len(lvals) else None
            rv = rvals[i] if i < len(rvals) else None
            if lv == rv:
                mark = SAME
            elif lv is None:
                mark = RIGHT_ONLY
            elif rv is None:
                mark = LEFT_ONLY
            else:
                mark = DIFFERENT
            if mark != SAME:
                differences += 1
            if not show_secrets and field.lower() in secret_fields:
                lv = None if lv is None else describe_value(field, lv, secret_fields)
                rv = None if rv is None else describe_value(field, rv, secret_fields)
            lines.append(f"{mark} {field[:24]:24} {_cell(lv, width)} {_cell(rv, width)}")
    return Comparison(lines, differences)


def _call(side: Side, verb: str, family: str, args: Sequence[tuple[str, str]]) -> object:
    rt = side.realtime
    if verb == "load":
        return rt.single(family, args)
    if verb == "multi":
        return rt.multi(family, args)
    if verb == "require":
        return rt.require(family, [Requirement.parse(f, spec) for f, spec in args])
    if verb == "static":
        return rt.static(family).render()
    raise BadRequest(f"compare supports load, multi, require and static, not {verb!r}")


def _outcome(side: Side, verb: str, family: str, args: Sequence[tuple[str, str]]) -> object:
    try:
        return _call(side, verb, family, args)
    except AraError as exc:
        return exc


def compare_call(
    left: Side,
    right: Side,
    verb: str,
    family: str,
    args: Sequence[tuple[str, str]],
    show_secrets: bool = False,
) -> Comparison:
    """Run ``verb`` on both sides and render the answers side by side."""
    a = _outcome(left, verb, family, args)
    b = _outcome(right, verb, family, args)
    width = _width(a, b)
    header = f"  {'field':24} {_cell(left.name, width)} {_cell(right.name, width)}"
    if isinstance(a, AraError) or isinstance(b, AraError):
        same = type(a) is type(b) and str(a) == str(b)
        lines = [
            f"{left.name}: {a if isinstance(a, AraError) else 'answered'}",
            f"{right.name}: {b if isinstance(b, AraError) else 'answered'}",
        ]
        return Comparison(lines, 0 if same else 1)
    secrets: set[str] = set()
    if verb in ("load", "multi"):
        secrets = left.realtime.secret_fields(family) | right.realtime.secret_fields(family)
    if verb == "load":
        assert a is None or isinstance(a, Record)
        assert b is None or isinstance(b, Record)
        result = compare_records(a, b, secrets, width, show_secrets=show_secrets)
        return Comparison([header, *result.lines], result.differences)
    if verb == "multi":
        assert isinstance(a, list) and isinstance(b, list)
        lines = [header]
        differences = 0
        for i in range(max(len(a), len(b))):
            ra = a[i] if i < len(a) else None
            rb = b[i] if i < len(b) else None
            lines.append(f"-- record {i + 1}")
            result = compare_records(ra, rb, secrets, width, show_secrets=show_secrets)
            lines += result.lines
            differences += result.differences
        lines.append(f"-- {len(a)} record(s) from {left.name}, {len(b)} from {right.name}")
        return Comparison(lines, differences + (len(a) != len(b)))
    # require and static: compare the texts line by line.
    a_lines = a.splitlines() if isinstance(a, str) else [str(p) for p in a]  # type: ignore[attr-defined]
    b_lines = b.splitlines() if isinstance(b, str) else [str(p) for p in b]  # type: ignore[attr-defined]
    lines = [header]
    differences = 0
    for i in range(max(len(a_lines), len(b_lines))):
        la = a_lines[i] if i < len(a_lines) else None
        lb = b_lines[i] if i < len(b_lines) else None
        mark = SAME if la == lb else DIFFERENT
        differences += mark != SAME
        lines.append(f"{mark} {i + 1:<24} {_cell(la, width)} {_cell(lb, width)}")
    return Comparison(lines, differences)
