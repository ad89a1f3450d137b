"""Static realtime: config rows turned into an ordered config file, as Asterisk builds it.

Asterisk loads whole ``.conf`` files from storage as rows of ``(filename, category,
cat_metric, var_metric, var_name, var_val, commented)``.  The order rules and the
category-splitting rule decide what a module finally sees, so they live here, once, for
every backend (reference: realtime-api.md §9, curl-protocol.md §5.8 and §9):

* commented rows are skipped;
* rows are sorted, stably, ``cat_metric DESC, var_metric ASC, category, var_name`` (the
  ODBC/PgSQL/curl order, ``order="asterisk"``) or ``cat_metric ASC, category,
  var_metric ASC`` (res_config_ldap's order, ``order="ldap"``);
* a new category starts whenever the category name or ``cat_metric`` changes, so the same
  name may appear twice;
* a row named ``#include`` loads the named file in place (through the same routing), and
  creates no variable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ara_ldap.errors import BadRequest, NotFound
from ara_ldap.record import Record

StaticOrder = Literal["asterisk", "ldap"]
STATIC_FIELDS = (
    "filename",
    "category",
    "cat_metric",
    "var_metric",
    "var_name",
    "var_val",
    "commented",
)
_LEADING_INT = re.compile(r"^\s*([+-]?\d+)")
_TRUE = {"1", "true", "yes", "on", "y", "t"}


def atoi(value: str | None) -> int:
    """C ``atoi``: leading digits, else 0 (how Asterisk reads the metrics)."""
    if not value:
        return 0
    m = _LEADING_INT.match(value)
    return int(m.group(1)) if m else 0


def is_commented(value: str | None) -> bool:
    """``commented`` is true for a non-zero number or yes/true/on (SQL uses 0/1, the stock
    LDAP driver searched for ``FALSE``)."""
    if value is None or value.strip() == "":
        return False
    v = value.strip().lower()
    if v in _TRUE:
        return True
    return atoi(v) != 0


@dataclass(frozen=True)
class StaticRow:
    """One config line as stored."""

    category: str
    cat_metric: int
    var_metric: int
    var_name: str
    var_val: str

    @classmethod
    def from_record(cls, record: Record) -> StaticRow | None:
        """The row, or ``None`` for commented rows and rows lacking a category or name."""
        if is_commented(record.get("commented")):
            return None
        category = record.get("category")
        var_name = record.get("var_name")
        if category is None or not var_name:
            return None
        return cls(
            category=category,
            cat_metric=atoi(record.get("cat_metric")),
            var_metric=atoi(record.get("var_metric")),
            var_name=var_name,
            var_val=record.get("var_val") or "",
        )


def sort_rows(rows: Sequence[StaticRow], order: StaticOrder = "asterisk") -> list[StaticRow]:
    if order == "asterisk":
        return sorted(rows, key=lambda r: (-r.cat_metric, r.var_metric, r.category, r.var_name))
    return sorted(rows, key=lambda r: (r.cat_metric, r.category, r.var_metric))


@dataclass
class Category:
    name: str
    metric: int
    variables: list[tuple[str, str]] = field(default_factory=list)
    source: str = ""


@dataclass
class Include:
    """An ``#include`` row; ``config`` is the included file once loaded."""

    filename: str
    config: StaticConfig | None = None


@dataclass
class StaticConfig:
    filename: str
    items: list[Category | Include] = field(default_factory=list)
    skipped: int = 0

    def categories(self) -> list[Category]:
        """Every category in file order, included files inlined (what a module sees)."""
        out: list[Category] = []
        for item in self.items:
            if isinstance(item, Category):
                out.append(item)
            elif item.config is not None:
                out.extend(item.config.categories())
        return out

    def render(self, follow_includes: bool = True) -> str:
        """As ``.conf`` text.  Included files are inlined between marker comments, or left
        as ``#include`` lines when ``follow_includes`` is false."""
        lines: list[str] = []
        self._render_into(lines, follow_includes)
        return "\n".join(lines) + ("\n" if lines else "")

    def _render_into(self, lines: list[str], follow: bool) -> None:
        for item in self.items:
            if isinstance(item, Category):
                if lines:
                    lines.append("")
                lines.append(f"[{item.name}]")
                lines.extend(f"{k} = {_conf_escape(v)}" for k, v in item.variables)
            elif follow and item.config is not None:
                lines.append(f'; >>> #include "{item.filename}"')
                item.config._render_into(lines, follow)
                lines.append(f'; <<< #include "{item.filename}"')
            else:
                lines.append(f'#include "{item.filename}"')

    def to_json(self) -> str:
        return json.dumps(
            {
                "filename": self.filename,
                "categories": [
                    {
                        "name": c.name,
                        "metric": c.metric,
                        "file": c.source,
                        "variables": [[k, v] for k, v in c.variables],
                    }
                    for c in self.categories()
                ],
            },
            ensure_ascii=False,
            indent=2,
        )


def _conf_escape(value: str) -> str:
    """Asterisk's .conf parser starts a comment at an unescaped ``;``."""
    return value.replace(";", "\\;")


IncludeLoader = Callable[[str], "StaticConfig | None"]


def build_static(
    filename: str,
    records: Sequence[Record],
    load_include: IncludeLoader | None = None,
    order: StaticOrder = "asterisk",
    _stack: tuple[str, ...] = (),
) -> StaticConfig:
    """Assemble a config file from its stored rows.

    ``load_include(name)`` returns the included file's config or ``None`` when it does not
    exist; a missing include is an error here (Asterisk silently stops at it and returns a
    truncated file, which is worse than failing).
    """
    stack = (*_stack, filename)
    config = StaticConfig(filename)
    rows: list[StaticRow] = []
    for record in records:
        row = StaticRow.from_record(record)
        if row is None:
            if not is_commented(record.get("commented")):
                config.skipped += 1
            continue
        rows.append(row)
    current: Category | None = None
    for row in sort_rows(rows, order):
        if row.var_name == "#include":
            target = row.var_val.strip().strip('"')
            if target in stack:
                raise BadRequest(f"#include loop: {' -> '.join([*stack, target])}")
            included = load_include(target) if load_include else None
            if included is None:
                raise NotFound(
                    f'{filename}: #include "{target}" (category [{row.category}]) is not stored'
                )
            config.items.append(Include(target, included))
            continue
        if current is None or current.name != row.category or current.metric != row.cat_metric:
            current = Category(row.category, row.cat_metric, source=filename)
            config.items.append(current)
        current.variables.append((row.var_name, row.var_val))
    return config
