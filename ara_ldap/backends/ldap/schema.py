"""What the directory's schema says about our attributes, read once per backend.

The filter builder needs to know which attributes have EQUALITY, SUBSTR and integer
ORDERING rules (stock ``AstAccountFromUser`` has none at all; stock attributes have no
ORDERING rule), ``require`` needs syntaxes and object-class contents, and ``update`` needs
to know which configured classes are auxiliary so it can add them to older entries.  The
subschema is read once, on the first successful connection, never per request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ara_ldap.backends.ldap.filters import DEFAULT_RULES, AttributeRules

INTEGER_SYNTAX = "1.3.6.1.4.1.1466.115.121.1.27"
_SYNTAX_LEN = re.compile(r"^([\d.]+)\{(\d+)\}$")

STRUCTURAL, ABSTRACT, AUXILIARY = "structural", "abstract", "auxiliary"


@dataclass(frozen=True)
class AttributeInfo:
    name: str
    equality: str | None
    substring: str | None
    ordering: str | None
    syntax: str | None
    max_length: int | None
    single_value: bool

    @property
    def is_integer(self) -> bool:
        return self.syntax == INTEGER_SYNTAX or (self.equality or "").lower() == "integermatch"

    def rules(self, prefixed: bool = False) -> AttributeRules:
        return AttributeRules(
            equality=self.equality is not None,
            substring=self.substring is not None,
            integer_ordering=(self.ordering or "").lower() == "integerorderingmatch",
            prefixed=prefixed,
        )


@dataclass(frozen=True)
class ClassInfo:
    name: str
    kind: str
    superiors: tuple[str, ...]
    must: frozenset[str]
    may: frozenset[str]


@dataclass
class SchemaInfo:
    """Attribute and class facts keyed by lower-cased name; empty when unreadable."""

    attributes: dict[str, AttributeInfo] = field(default_factory=dict)
    classes: dict[str, ClassInfo] = field(default_factory=dict)
    known: bool = False

    def attribute(self, name: str) -> AttributeInfo | None:
        return self.attributes.get(name.lower())

    def rules(self, name: str, prefixed: bool = False) -> AttributeRules:
        if not self.known:
            # Conservative while the subschema is unknown (unreadable for the bind identity,
            # or not read yet): presence tests only, a superset Python finishes.  Assuming
            # rules an attribute lacks makes the server answer Undefined and drop entries
            # that match (stock AstAccountFromUser has no EQUALITY).
            return AttributeRules(equality=False, substring=False, prefixed=prefixed)
        info = self.attribute(name)
        if info is None:
            return AttributeRules(prefixed=prefixed) if prefixed else DEFAULT_RULES
        return info.rules(prefixed)

    def allowed(self, class_names: list[str]) -> set[str] | None:
        """Lower-cased attributes the classes (and their superiors) allow; None if unknown."""
        if not self.known:
            return None
        out: set[str] = {"objectclass"}
        seen: set[str] = set()
        todo = [c.lower() for c in class_names]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            info = self.classes.get(name)
            if info is None:
                continue
            out |= info.must | info.may
            todo.extend(s.lower() for s in info.superiors)
        return out

    def kind(self, class_name: str) -> str | None:
        info = self.classes.get(class_name.lower())
        return info.kind if info else None


def _first(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return str(value[0]) if value else None
    return str(value)


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def from_ldap3(schema: Any) -> SchemaInfo:
    """Convert ldap3's parsed subschema, resolving matching rules inherited through SUP."""
    info = SchemaInfo(known=schema is not None)
    if schema is None:
        return info
    raw_types = schema.attribute_types
    by_name: dict[str, Any] = {}
    for key in raw_types:
        definition = raw_types[key]
        for name in _names(definition.name) or [key]:
            by_name[name.lower()] = definition

    def inherited(definition: Any, attr: str, depth: int = 0) -> Any:
        value = getattr(definition, attr, None)
        if attr == "substring":
            # ldap3 2.9 parses SUBSTR into ``.substr`` although its constructor names the
            # field ``substring``; read both.
            value = value or getattr(definition, "substr", None)
        if value or depth > 8:
            return value
        parent = _first(getattr(definition, "superior", None))
        if parent and parent.lower() in by_name:
            return inherited(by_name[parent.lower()], attr, depth + 1)
        return None

    for lname, definition in by_name.items():
        syntax = _first(inherited(definition, "syntax"))
        max_length = None
        if syntax:
            m = _SYNTAX_LEN.match(syntax)
            if m:
                syntax, max_length = m.group(1), int(m.group(2))
        min_length = getattr(definition, "min_length", None)
        if isinstance(min_length, int) and min_length > 0:
            max_length = min_length
        info.attributes[lname] = AttributeInfo(
            name=_names(definition.name)[0] if _names(definition.name) else lname,
            equality=_first(inherited(definition, "equality")),
            substring=_first(inherited(definition, "substring")),
            ordering=_first(inherited(definition, "ordering")),
            syntax=syntax,
            max_length=max_length,
            single_value=bool(getattr(definition, "single_value", False)),
        )
    kinds = {0: STRUCTURAL, 1: ABSTRACT, 2: AUXILIARY}
    for key in schema.object_classes:
        definition = schema.object_classes[key]
        raw_kind = getattr(definition, "kind", None)
        kind = (
            kinds.get(raw_kind, str(raw_kind).lower())
            if isinstance(raw_kind, int)
            else str(raw_kind).lower()
        )
        ci = ClassInfo(
            name=_names(definition.name)[0] if _names(definition.name) else key,
            kind=kind,
            superiors=tuple(_names(getattr(definition, "superior", None))),
            must=frozenset(n.lower() for n in _names(getattr(definition, "must_contain", None))),
            may=frozenset(n.lower() for n in _names(getattr(definition, "may_contain", None))),
        )
        for name in _names(definition.name) or [key]:
            info.classes[name.lower()] = ci
    return info
