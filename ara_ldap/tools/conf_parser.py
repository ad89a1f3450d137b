"""Asterisk ``.conf`` files: parse them as ``main/config.c`` does, and turn them into
static realtime rows.

Why this exists: ``ara-ldap static-import`` moves a file into a static realtime family,
and what a module later reads from the rows must be what it read from the file.  So the
parser follows Asterisk's rules, quirks included, and refuses what static realtime
cannot hold instead of silently changing the meaning:

* ``;`` starts a comment, ``\\;`` is a literal ``;`` (only that escape exists);
  ``;--`` ... ``--;`` is a block comment, possibly over several lines and nested; the
  text around a one-line block comment is joined;
* ``[name]`` starts a category (the name is not trimmed); ``[name](!)`` defines a
  template, ``[name](a,b)`` inherits from the categories named (first definition of
  each name, template or not; names are not trimmed either);
* ``key = value`` and ``key => value`` (``=>`` becomes ``=``: static realtime has no
  "object" flag); names and values are trimmed; a repeated key is kept in order;
* ``#include "file"``, ``#include <file>`` or ``#include file`` is recorded, not
  followed: import the included file separately;
* refused with a message naming the line: ``+=``, ``[name](+)``, ``#exec``,
  ``#tryinclude``, a variable before any category, a header without ``]`` or ``)``, and
  ``--;`` outside a block comment (Asterisk would then ignore the rest of the file);
* lines Asterisk ignores with a warning (no ``=``, no variable name, an unknown
  directive) become :attr:`ConfFile.warnings`.

Templates: static realtime categories have none (Asterisk creates them as plain
categories).  By default they are refused; with ``expand_templates`` the templates are
dropped and every child gets its templates' variables first, in the order listed,
exactly as Asterisk builds the category from the file.

Row scheme (:func:`static_rows`), for the default static order ``cat_metric DESC,
var_metric ASC`` (for ``static.order: ldap``, ``cat_metric ASC``, the metrics count up
instead): the *i*-th stored category (0-based, of *N*) gets ``cat_metric =
N-1-i`` (a repeated name gets its own metric, so it stays a separate category);
``var_metric`` counts 0, 1, 2, ... over the whole file; ``commented`` is ``0``.  An
``#include`` row takes the category and ``cat_metric`` of the stored category it
follows, so it sorts right after that category's variables; includes before the first
category take those of the first category (sorting before its variables); a file with
no categories files them under category ``general``.  Assembling the rows gives back
:meth:`ConfFile.outline`, which is how Asterisk itself reads the file: an ``#include``
in the middle of a category comes out after that category's variables, because the
category's later lines still go into it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ara_ldap.errors import BadRequest, Conflict
from ara_ldap.realtime import Realtime
from ara_ldap.record import Record
from ara_ldap.static import Category, StaticConfig, StaticOrder, build_static

__all__ = [
    "TEMPLATE_MESSAGE",
    "ConfCategory",
    "ConfFile",
    "ConfInclude",
    "ConfParseError",
    "ConfVariable",
    "ImportResult",
    "OutlineItem",
    "check_importable",
    "empty_categories",
    "import_static",
    "outline_of_config",
    "outline_of_rows",
    "parse_conf",
    "parse_conf_file",
    "static_rows",
]

TEMPLATE_MESSAGE = (
    "templates are not supported by static realtime (Asterisk creates realtime categories "
    "without templates); use --expand-templates"
)
NO_CATEGORY_NAME = "general"

OutlineItem = tuple[str, str, tuple[tuple[str, str], ...]]
"""``("category", name, ((key, value), ...))`` or ``("include", filename, ())``."""


class ConfParseError(BadRequest):
    """The file cannot be imported as it is; the message names the file and line."""

    def __init__(self, filename: str, lineno: int, message: str) -> None:
        self.filename = filename
        self.lineno = lineno
        super().__init__(f"{filename} line {lineno}: {message}")


@dataclass(frozen=True)
class ConfVariable:
    name: str
    value: str
    lineno: int
    object: bool = False
    """Written with ``=>``."""


@dataclass(frozen=True)
class ConfInclude:
    filename: str
    lineno: int


@dataclass
class ConfCategory:
    name: str
    lineno: int
    template: bool = False
    """Defined with ``(!)``: Asterisk hides it from modules."""
    bases: tuple[str, ...] = ()
    """Categories it inherits from, in order."""
    inherited: list[ConfVariable] = field(default_factory=list)
    """The bases' variables, in Asterisk's order (they come first)."""
    items: list[ConfVariable | ConfInclude] = field(default_factory=list)
    """Its own lines, in order."""

    def variables(self) -> list[ConfVariable]:
        """What Asterisk holds for the category: inherited variables, then its own."""
        return [*self.inherited, *(i for i in self.items if isinstance(i, ConfVariable))]

    @property
    def uses_templates(self) -> bool:
        return self.template or bool(self.bases)


@dataclass
class ConfFile:
    filename: str
    preamble: list[ConfInclude] = field(default_factory=list)
    """``#include`` lines before the first category."""
    categories: list[ConfCategory] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def stored_categories(self) -> list[ConfCategory]:
        """The categories a module sees (templates are hidden)."""
        return [c for c in self.categories if not c.template]

    def first_template_use(self) -> ConfCategory | None:
        return next((c for c in self.categories if c.uses_templates), None)

    def sequence(self) -> list[ConfCategory | ConfInclude]:
        """Visible categories and includes in the order Asterisk assembles them: an
        include comes after the category it appears in (whose later lines stay in it);
        includes in a template come after the last visible category before it."""
        out: list[ConfCategory | ConfInclude] = list(self.preamble)
        for category in self.categories:
            if not category.template:
                out.append(category)
            out.extend(i for i in category.items if isinstance(i, ConfInclude))
        return out

    def outline(self) -> list[OutlineItem]:
        """The file as Asterisk reads it, for comparisons (templates expanded)."""
        out: list[OutlineItem] = []
        for item in self.sequence():
            if isinstance(item, ConfInclude):
                out.append(("include", item.filename, ()))
            else:
                pairs = tuple((v.name, v.value) for v in item.variables())
                out.append(("category", item.name, pairs))
        return out


# Parsing -------------------------------------------------------------------------------


def parse_conf_file(path: str | Path, filename: str | None = None) -> ConfFile:
    """Read and parse *path* (UTF-8); messages name it as *filename* (default: its name)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise BadRequest(f"cannot read {file}: {exc.strerror or exc}") from None
    return parse_conf(text, filename or file.name)


def parse_conf(text: str, filename: str = "<text>") -> ConfFile:
    """Parse a whole ``.conf`` text (see the module docstring for the rules)."""
    parser = _Parser(filename)
    for lineno, line in enumerate(text.splitlines(), start=1):
        parser.feed(lineno, line)
    if parser.depth:
        parser.conf.warnings.append(
            f"{filename} line {parser.comment_start}: unterminated block comment (';--' "
            "without '--;'): the rest of the file is a comment"
        )
    return parser.conf


class _Parser:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.conf = ConfFile(filename)
        self.depth = 0
        self.comment_start = 0
        self.current: ConfCategory | None = None

    def error(self, lineno: int, message: str) -> ConfParseError:
        return ConfParseError(self.filename, lineno, message)

    def warn(self, lineno: int, message: str) -> None:
        self.conf.warnings.append(f"{self.filename} line {lineno}: {message}")

    def feed(self, lineno: int, line: str) -> None:
        text = self.strip_comments(lineno, line)
        if text is None:
            return
        text = text.strip()
        if not text:
            return
        if text.startswith("["):
            self.header(lineno, text)
        elif text.startswith("#"):
            self.directive(lineno, text)
        else:
            self.variable(lineno, text)

    def strip_comments(self, lineno: int, line: str) -> str | None:
        """The line without comments (config.c's loop), or ``None`` if all comment."""
        kept: str | None = None if self.depth else ""
        rest = line
        while (j := rest.find(";")) >= 0:
            if j > 0 and rest[j - 1] == "\\":
                if self.depth == 0 and kept is not None:
                    kept += rest[: j - 1] + ";"
                rest = rest[j + 1 :]
            elif rest[j + 1 : j + 3] == "--" and rest[j + 3 : j + 4] != "-":
                if self.depth == 0 and kept is not None:
                    kept += rest[:j]
                if self.depth == 0:
                    self.comment_start = lineno
                self.depth += 1
                rest = rest[j + 3 :]
            elif j >= 2 and rest[j - 2 : j] == "--":
                if self.depth == 0:
                    raise self.error(
                        lineno,
                        "'--;' outside a block comment: Asterisk would treat the rest of "
                        "the file as a comment; write '\\;' or remove the dashes",
                    )
                self.depth -= 1
                rest = rest[j + 1 :]
                if self.depth == 0 and kept is None:
                    kept = ""
            elif self.depth == 0:
                assert kept is not None
                return kept + rest[:j]
            else:
                rest = rest[j + 1 :]
        if self.depth == 0:
            return (kept or "") + rest
        return kept

    def header(self, lineno: int, text: str) -> None:
        close = text.find("]")
        if close < 0:
            raise self.error(lineno, "no closing ']' in the category header")
        name = text[1:close]
        category = ConfCategory(name, lineno)
        after = text[close + 1 :]
        if after.startswith("("):
            end = after.find(")")
            if end < 0:
                raise self.error(lineno, "no closing ')' in the category options")
            for option in after[1:end].split(","):
                self.option(lineno, category, option)
        self.conf.categories.append(category)
        self.current = category

    def option(self, lineno: int, category: ConfCategory, option: str) -> None:
        if option == "!":
            category.template = True
        elif option.startswith("+"):
            raise self.error(
                lineno,
                f"[{category.name}]({option}) adds to an earlier category, which static "
                "realtime cannot express; merge the lines into one category",
            )
        else:
            base = next((c for c in self.conf.categories if c.name == option), None)
            if base is None:
                raise self.error(
                    lineno,
                    f"[{category.name}] inherits from {option!r}, which is not defined above "
                    "in this file (Asterisk does not trim names in the list; templates from "
                    "included files cannot be expanded here)",
                )
            category.bases = (*category.bases, option)
            category.inherited.extend(base.variables())

    def directive(self, lineno: int, text: str) -> None:
        body = text[1:]
        end = 0
        while end < len(body) and ord(body[end]) > 32:
            end += 1
        name = body[:end]
        argument = body[end:].strip()
        lowered = name.lower()
        if lowered == "include":
            if not argument:
                self.warn(lineno, "#include needs a file name; Asterisk ignores the line")
                return
            include = ConfInclude(_dequote(argument), lineno)
            if self.current is None:
                self.conf.preamble.append(include)
            else:
                self.current.items.append(include)
        elif lowered == "tryinclude":
            raise self.error(
                lineno,
                "#tryinclude has no static realtime equivalent (a stored #include of a "
                "missing file stops the load); import the file and use #include, or drop it",
            )
        elif lowered == "exec":
            raise self.error(
                lineno, "#exec cannot be stored in static realtime (only #include rows exist)"
            )
        else:
            self.warn(lineno, f"unknown directive '#{name}'; Asterisk ignores the line")

    def variable(self, lineno: int, text: str) -> None:
        if self.current is None:
            raise self.error(lineno, "a line before any [category] (Asterisk refuses the file)")
        equals = text.find("=")
        if equals < 0:
            self.warn(lineno, "no '=' in the line; Asterisk ignores it")
            return
        if equals > 0 and text[equals - 1] == "+":
            raise self.error(
                lineno,
                "'+=' appends to an earlier value, which static realtime cannot express; "
                "write the whole value on one line",
            )
        name = text[:equals].strip()
        value = text[equals + 1 :]
        is_object = value.startswith(">")
        if is_object:
            value = value[1:]
        if not name:
            self.warn(lineno, "no variable name; Asterisk ignores the line")
            return
        self.current.items.append(ConfVariable(name, value.strip(), lineno, is_object))


def _dequote(argument: str) -> str:
    """Asterisk strips one pair of ``"..."`` or ``<...>`` around a directive's argument."""
    if argument[:1] in ('"', "<"):
        closing = '"' if argument[0] == '"' else ">"
        if len(argument) > 1 and argument.endswith(closing):
            return argument[1:-1]
    return argument


# Static rows --------------------------------------------------------------------------


def check_importable(conf: ConfFile, expand_templates: bool = False) -> None:
    """Refuse templates unless they are to be expanded (the message names the line)."""
    if expand_templates:
        return
    category = conf.first_template_use()
    if category is not None:
        raise ConfParseError(conf.filename, category.lineno, TEMPLATE_MESSAGE)


def static_rows(conf: ConfFile, filename: str, order: StaticOrder = "asterisk") -> list[Record]:
    """The file as static realtime rows (metric scheme in the module docstring).

    *order* is the static order the rows will be read with: for ``"ldap"``
    (``cat_metric ASC``) the first category gets cat_metric 0 instead of N-1.
    Templates are expanded (call :func:`check_importable` first to refuse them).
    Categories without variables cannot be stored (rows are lines) and are left out
    (:func:`empty_categories` lists them).
    """
    sequence = conf.sequence()
    stored = [item for item in sequence if isinstance(item, ConfCategory)]
    total = len(stored)
    rows: list[Record] = []
    var_metric = 0

    def emit(category: str, cat_metric: int, name: str, value: str) -> None:
        nonlocal var_metric
        rows.append(
            Record(
                [
                    ("filename", filename),
                    ("category", category),
                    ("cat_metric", str(cat_metric)),
                    ("var_metric", str(var_metric)),
                    ("var_name", name),
                    ("var_val", value),
                    ("commented", "0"),
                ]
            )
        )
        var_metric += 1

    def cat_metric(index: int) -> int:
        return index if order == "ldap" else total - 1 - index

    index = -1
    for item in sequence:
        if isinstance(item, ConfCategory):
            index += 1
            for variable in item.variables():
                emit(item.name, cat_metric(index), variable.name, variable.value)
        elif stored:
            owner = max(index, 0)
            emit(stored[owner].name, cat_metric(owner), "#include", item.filename)
        else:
            emit(NO_CATEGORY_NAME, 0, "#include", item.filename)
    return rows


def empty_categories(conf: ConfFile) -> list[ConfCategory]:
    """Visible categories without variables: static realtime cannot store them."""
    return [c for c in conf.stored_categories() if not c.variables()]


@dataclass(frozen=True)
class ImportResult:
    filename: str
    family: str
    categories: int
    rows: int
    removed: int
    warnings: tuple[str, ...]


def import_static(
    realtime: Realtime,
    conf: ConfFile,
    filename: str,
    family: str | None = None,
    replace: bool = False,
    expand_templates: bool = False,
    order: StaticOrder = "asterisk",
) -> ImportResult:
    """Store *conf* as static realtime file *filename*.

    Everything is checked before anything is written.  An already stored file is a
    :class:`~ara_ldap.errors.Conflict` unless *replace*, which first destroys its rows
    (not atomic: a failure in between leaves the file partly stored; run it again).
    """
    check_importable(conf, expand_templates)
    family = family or realtime.static_family(filename)
    rows = static_rows(conf, filename, order)
    if not rows:
        raise BadRequest(f"{conf.filename}: nothing to import (no variables and no #include)")
    warnings = list(conf.warnings)
    for category in empty_categories(conf):
        warnings.append(
            f"{conf.filename} line {category.lineno}: [{category.name}] has no variables; "
            "static realtime stores lines, so the empty category is not stored"
        )
    removed = 0
    existing = realtime.multi(family, [("filename", filename)])
    if existing and not replace:
        raise Conflict(
            f"{filename} is already stored in family {family!r} ({len(existing)} rows); "
            "use --replace"
        )
    if existing:
        removed = realtime.destroy(family, [("filename", filename)])
    for row in rows:
        realtime.store(family, row)
    categories = len(conf.stored_categories()) - len(empty_categories(conf))
    return ImportResult(filename, family, categories, len(rows), removed, tuple(warnings))


def outline_of_config(config: StaticConfig) -> list[OutlineItem]:
    """The outline of an assembled static file (includes not inlined)."""
    out: list[OutlineItem] = []
    for item in config.items:
        if isinstance(item, Category):
            out.append(("category", item.name, tuple(item.variables)))
        else:
            out.append(("include", item.filename, ()))
    return out


def outline_of_rows(rows: Sequence[Record], order: StaticOrder = "asterisk") -> list[OutlineItem]:
    """The outline that assembling *rows* gives (includes are not loaded)."""
    return outline_of_config(build_static("", rows, StaticConfig, order=order))
