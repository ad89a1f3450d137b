"""Field ⇄ attribute mapping for one family: entries to records and records to entries.

The attribute map is the contract between Asterisk's column names and the directory.
Only mapped attributes become fields (res_config_ldap also returns ``objectClass`` and any
unmapped attribute under its LDAP name; nothing in Asterisk wants those).  Multi-valued
fields are multi-valued attributes, read back in order; see docs/ldap.md for how order is
kept (``value_order``).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from ara_ldap.backends.ldap.filters import AttributeRules, escape_dn_value, escape_filter_value
from ara_ldap.config import LdapFamily, RdnTemplate
from ara_ldap.criteria import Criterion, LikeToken, Operator, literal_likes, parse_like
from ara_ldap.errors import BadRequest, UnknownField, describe_value
from ara_ldap.record import Pair, Record

_PREFIX_RE = re.compile(r"^\{(\d+)\}")
_MD5_PREFIX = re.compile(r"^\{md5\}", re.IGNORECASE)
_SLOT_NAME_RE = re.compile(r"^[A-Za-z0-9_@-]+$")
#: ``_slots`` marker for the family's field slot attribute.
_SLOT = (-1, "")


@dataclass(frozen=True)
class EntryValues:
    """The attributes to write for a record: ``{attribute: [values]}`` plus the RDN."""

    attributes: dict[str, list[str]]
    rdn_attribute: str
    rdn_value: str


class FamilyMap:
    """One family's attribute map, with the lookups the hot paths need precomputed."""

    def __init__(self, name: str, spec: LdapFamily, value_order: str = "server") -> None:
        self.name = name
        self.spec = spec
        self.base_dn = spec.base_dn
        self.filter = spec.filter
        self.object_classes = list(spec.object_classes)
        self.value_order = spec.value_order or value_order
        self.fields: list[str] = list(spec.attributes)
        self._field_by_key = {f.lower(): f for f in spec.attributes}
        self._attr_by_key = {f.lower(): a for f, a in spec.attributes.items()}
        self._field_by_attr = {a.lower(): f for f, a in spec.attributes.items()}
        self.multi_valued = {f.lower() for f in spec.multi_valued}
        self.secret_fields = {f.lower() for f in spec.secret_fields}
        if spec.split_semicolons is True:
            self.split_fields = set(self.multi_valued)
        elif spec.split_semicolons:
            self.split_fields = {f.lower() for f in spec.split_semicolons}
        else:
            self.split_fields = set()
        self.prefixed = self.multi_valued if self.value_order == "prefix" else set()
        #: The name=value attribute for fields outside the attribute map (None: no slot).
        self.field_slot = spec.field_slot
        self.slot_fields = list(spec.slot_fields)
        self._slot_by_key = {f.lower(): f for f in spec.slot_fields}
        self.joined = {f.lower() for f in spec.joined}
        self.constants = dict(spec.constants)
        self.derived = dict(spec.derived)
        self.literal_like = spec.literal_like
        self.store_existing = spec.store_existing
        if isinstance(spec.rdn, RdnTemplate):
            self.rdn_attribute = spec.rdn.attribute
            self.rdn_template: str | None = spec.rdn.value
            self.rdn_fields = [self.field(f) for f in spec.rdn.fields]
        else:
            self.rdn_attribute = self._attr_by_key[spec.rdn.lower()]
            self.rdn_template = None
            self.rdn_fields = [self.field(spec.rdn)]
        #: Attributes to request: the mapped ones (a fixed list, built once).
        self.attributes = [spec.attributes[f] for f in self.fields]
        if self.field_slot is not None:
            self.attributes.append(self.field_slot)
        self.fields += [f for f in self.slot_fields if f.lower() not in self._field_by_key]
        self._index = {f: i for i, f in enumerate(self.fields)}
        # Server attribute spelling -> (position, field); filled lazily, None = unmapped.
        self._slots: dict[str, tuple[int, str] | None] = {}
        # Fields whose values need more than decoding.
        special = self.prefixed | self.split_fields | self.joined | {"md5secret"}
        self._special = {f for f in self.fields if f.lower() in special}

    # Names ------------------------------------------------------------------------------
    def field(self, name: str) -> str:
        """The canonical spelling of a field name (case-insensitive); UnknownField if none.

        With a field slot every well-formed name is a field (stored as name=value)."""
        key = name.lower()
        found = self._field_by_key.get(key) or self._slot_by_key.get(key)
        if found is not None:
            return found
        if self.field_slot is not None and _SLOT_NAME_RE.match(name):
            return name
        raise UnknownField(
            f"family {self.name!r} has no field {name!r} (not in its attribute map)"
        ) from None

    def has_field(self, name: str) -> bool:
        key = name.lower()
        if key in self._field_by_key or key in self._slot_by_key:
            return True
        return self.field_slot is not None and _SLOT_NAME_RE.match(name) is not None

    def in_slot(self, field: str) -> bool:
        """The field lives in the name=value slot (not a mapped attribute)."""
        return self.field_slot is not None and field.lower() not in self._attr_by_key

    def attribute(self, field: str) -> str:
        canonical = self.field(field)
        attr = self._attr_by_key.get(canonical.lower())
        if attr is None:
            assert self.field_slot is not None
            return self.field_slot
        return attr

    def is_prefixed(self, field: str) -> bool:
        return field.lower() in self.prefixed

    def read_rules(self, field: str, rules: AttributeRules) -> AttributeRules:
        """``rules`` widened so a filter on ``field`` matches what reads *show*: a value
        split out of ``a;b`` may sit anywhere in a stored value, a ``{MD5}`` prefix is
        stripped on read, joined values are decided in Python (presence on the server)."""
        key = field.lower()
        if key in self.joined:
            return replace(rules, equality=False, substring=False)
        if key in self.split_fields:
            return replace(rules, embedded=True)
        if key == "md5secret":
            return replace(rules, prefixed=True)
        return rules

    # Reading ----------------------------------------------------------------------------
    def to_record(self, raw: Mapping[str, Sequence[bytes]]) -> Record:
        """An entry's raw attributes as a Record in attribute-map order (hot path)."""
        found: list[tuple[int, str, Sequence[bytes]]] = []
        slots = self._slots
        for attr, raw_values in raw.items():
            slot = slots.get(attr)
            if slot is None:
                slot = self._slot_for(attr)
                if slot is None:
                    continue
            if slot is _SLOT:
                found.extend(self._slot_values(raw_values))
            elif raw_values:
                found.append((slot[0], slot[1], raw_values))
        found.sort(key=_first)
        pairs: list[Pair] = []
        special = self._special
        if self.field_slot is not None:
            found = _merge_same_field(found)
        for _, fld, raw_values in found:
            values = [v.decode("utf-8", "replace") for v in raw_values]
            if fld in special:
                values = self._transform(fld, values)
            pairs.extend([(fld, v) for v in values if v])
        return Record._trusted(tuple(pairs))

    def _slot_for(self, attr: str) -> tuple[int, str] | None:
        """Resolve a server-spelled attribute name once, then remember it."""
        key = attr.lower()
        if self.field_slot is not None and key == self.field_slot.lower():
            self._slots[attr] = _SLOT
            return _SLOT
        fld = self._field_by_attr.get(key)
        if fld is None:
            self._slots[attr] = None
            return None
        slot = (self._index[fld], fld)
        self._slots[attr] = slot
        return slot

    def _slot_values(
        self, raw_values: Sequence[bytes]
    ) -> Iterable[tuple[int, str, Sequence[bytes]]]:
        """``name=value`` slot values as fields: known names at their place in ``fields``,
        others after them in stored order; a value without ``=`` is not a field."""
        unknown = len(self.fields)
        for i, raw_value in enumerate(raw_values):
            name, sep, value = raw_value.partition(b"=")
            if not sep or not name:
                continue
            text = name.decode("utf-8", "replace")
            key = text.lower()
            fld = self._slot_by_key.get(key) or self._field_by_key.get(key)
            if fld is not None and key not in self._attr_by_key:
                yield (self._index[fld], fld, [value])
            elif fld is None and _SLOT_NAME_RE.match(text):
                yield (unknown + i, text, [value])

    def _transform(self, fld: str, values: list[str]) -> list[str]:
        key = fld.lower()
        if key in self.prefixed:
            values = _strip_positions(values)
        if key == "md5secret":
            values = [_MD5_PREFIX.sub("", v) for v in values]
        if key in self.split_fields:
            values = [c.strip() for v in values for c in v.split(";") if c.strip()]
        if key in self.joined and len(values) > 1:
            values = [",".join(v for v in values if v)]
        return values

    # Writing ----------------------------------------------------------------------------
    def group(
        self, record: Iterable[Pair], strict: bool = True
    ) -> tuple[dict[str, list[str]], list[str]]:
        """``{canonical field: [values]}`` plus the unknown field names (error if strict)."""
        grouped: dict[str, list[str]] = {}
        unknown: list[str] = []
        slot = self.field_slot is not None
        for name, value in record:
            key = name.lower()
            fld = self._field_by_key.get(key)
            if fld is None and slot and _SLOT_NAME_RE.match(name):
                fld = self._slot_by_key.get(key, name)
            if fld is None:
                if strict:
                    raise self._unknown(name)
                if name not in unknown:
                    unknown.append(name)
                continue
            grouped.setdefault(fld, []).append(value)
        return grouped, unknown

    def _unknown(self, name: str) -> UnknownField:
        return UnknownField(
            f"family {self.name!r} has no field {name!r}; add it to the family's attribute map "
            "or leave it out"
        )

    def attribute_values(self, field: str, values: Sequence[str]) -> list[str]:
        """Values as they are written: empties dropped, order encoded when configured."""
        present = [v for v in values if v != ""]
        key = field.lower()
        if self.in_slot(field):
            # The slot is multi-valued by nature: accumulating long-tail fields repeat.
            return present
        if len(present) > 1 and key not in self.multi_valued:
            raise BadRequest(
                f"family {self.name!r}: field {field!r} is single-valued but got "
                f"{len(present)} values (list it under multi_valued to allow several)"
            )
        if key in self.prefixed:
            return [f"{{{i}}}{v}" for i, v in enumerate(present)]
        folded = [v.casefold() for v in present]
        if len(set(folded)) != len(folded):
            raise BadRequest(
                f"family {self.name!r}: field {field!r} repeats a value; the directory keeps "
                "a set of distinct values (case-insensitive)"
            )
        return present

    def rdn_for(self, grouped: Mapping[str, Sequence[str]]) -> str:
        """The RDN value for a record (from its RDN field or the RDN template)."""
        values: dict[str, str] = {}
        for fld in self.rdn_fields:
            present = [v for v in grouped.get(fld, ()) if v != ""]
            if len(present) != 1:
                raise BadRequest(
                    f"family {self.name!r}: a record needs exactly one value for {fld!r} "
                    f"to name its entry (RDN {self.rdn_attribute})"
                )
            values[fld] = present[0]
        if self.rdn_template is None:
            return values[self.rdn_fields[0]]
        specials = self._template_specials
        if any(c in v for v in values.values() for c in specials):
            values = {f: _percent_encode(v, specials) for f, v in values.items()}
        return self.rdn_template.format(**values)

    @property
    def _template_specials(self) -> frozenset[str]:
        """The template's separator characters, plus ``%``: a field value holding one is
        percent-encoded, so two records never share a name (``1@a``/``b`` and ``1``/``a@b``
        both gave ``1@a@b/1``).  Values without them are named exactly as before."""
        if self.rdn_template is None:
            return frozenset()
        literal = "".join(text for text, *_ in string.Formatter().parse(self.rdn_template))
        return frozenset(literal) | {"%"}

    def dn_for(self, rdn_value: str) -> str:
        return f"{self.rdn_attribute}={escape_dn_value(rdn_value)},{self.base_dn}"

    def entry_for(self, record: Record) -> EntryValues:
        """Attributes for a new entry; unknown fields are an error."""
        grouped, _ = self.group(record, strict=True)
        attributes: dict[str, list[str]] = {}
        slot_values: list[str] = []
        for fld, values in grouped.items():
            written = self.attribute_values(fld, values)
            if self.in_slot(fld):
                slot_values += [f"{fld}={v}" for v in written]
            elif written:
                attributes[self._attr_by_key[fld.lower()]] = written
        if slot_values:
            assert self.field_slot is not None
            attributes[self.field_slot] = _distinct(slot_values)
        rdn_value = self.rdn_for(grouped)
        if self.rdn_template is not None:
            attributes.setdefault(self.rdn_attribute, [rdn_value])
        for attr, value in self.constants.items():
            attributes[attr] = [value]
        attributes.update({a: v for a, v in self.derived_values(grouped).items() if v})
        return EntryValues(attributes, self.rdn_attribute, rdn_value)

    # Derived attributes, the slot and sorcery's LIKE -------------------------------------
    def derived_values(self, grouped: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
        """Derived attributes whose source field is in ``grouped``: ``{attr: [value]}``
        (``[]``: the attribute must go)."""
        out: dict[str, list[str]] = {}
        for attr, spec in self.derived.items():
            source = self.field(spec.field)
            if source not in grouped:
                continue
            present = [v for v in grouped[source] if v != ""]
            head, sep, _ = present[0].partition(spec.before) if present else ("", "", "")
            out[attr] = [head] if sep and head else []
        return out

    def merged_slot(
        self, current: Sequence[bytes], changes: Mapping[str, Sequence[str]], replace: bool
    ) -> list[str]:
        """The slot's values after writing ``changes`` (slot fields only): the changed
        fields' old values go, the new ones are appended; ``replace`` drops every field."""
        changed = {f.lower() for f in changes}
        kept: list[str] = []
        if not replace:
            for raw_value in current:
                text = raw_value.decode("utf-8", "replace")
                if text.partition("=")[0].lower() not in changed:
                    kept.append(text)
        for fld, values in changes.items():
            kept += [f"{fld}={v}" for v in values if v != ""]
        return _distinct(kept)

    def prepare(self, criteria: Sequence[Criterion]) -> Sequence[Criterion]:
        """Criteria as the family reads them (sorcery's literal LIKE when configured)."""
        return literal_likes(criteria) if self.literal_like else criteria

    def server_component(self, criterion: Criterion) -> str | None:
        """A filter component the generic builder cannot make (a superset, finished in
        Python), or None: slot fields, and LIKE prefixes a derived attribute serves."""
        fld = self.field(criterion.field)
        if self.in_slot(fld):
            assert self.field_slot is not None
            value = criterion.value
            if (
                criterion.op is Operator.EQ
                and value
                and value == value.strip()
                and "  " not in value
                and "\t" not in value
            ):
                # "*=" also matches a name stored in another case; Python checks the name.
                return f"({self.field_slot}=*={escape_filter_value(value)})"
            return f"({self.field_slot}=*)"
        if criterion.op is not Operator.LIKE:
            return None
        for attr, spec in self.derived.items():
            if self.field(spec.field) != fld:
                continue
            parts = parse_like(criterion.value)
            if len(parts) != 2 or not isinstance(parts[0], str) or parts[1] is not LikeToken.ANY:
                continue
            literal = parts[0]
            # Every id starting with the literal has its first separator where the
            # literal's is: then the derived value is the text before it, exactly.
            cut = len(literal) - len(spec.before)
            if cut > 0 and literal.find(spec.before) == cut:
                return f"({attr}={escape_filter_value(literal[:cut])})"
        return None

    def describe(self, field: str, value: str) -> str:
        return describe_value(field, value, self.secret_fields)


def _percent_encode(value: str, specials: frozenset[str]) -> str:
    return "".join(f"%{ord(c):02X}" if c in specials else c for c in value)


def _first(item: tuple[int, str, Sequence[bytes]]) -> int:
    return item[0]


def _distinct(values: list[str]) -> list[str]:
    """Values in order without exact repeats (a directory keeps a set)."""
    return list(dict.fromkeys(values))


def _merge_same_field(
    found: list[tuple[int, str, Sequence[bytes]]],
) -> list[tuple[int, str, Sequence[bytes]]]:
    """Slot values of one field as one item (sorted input), so ``joined`` sees them all."""
    out: list[tuple[int, str, Sequence[bytes]]] = []
    for item in found:
        if out and out[-1][1] == item[1]:
            out[-1] = (out[-1][0], item[1], [*out[-1][2], *item[2]])
        else:
            out.append(item)
    return out


def _strip_positions(values: list[str]) -> list[str]:
    """Order ``{n}value`` values by n and strip the prefix (only if all carry one)."""
    keyed: list[tuple[int, int, str]] = []
    for i, v in enumerate(values):
        m = _PREFIX_RE.match(v)
        if m is None:
            return values
        keyed.append((int(m.group(1)), i, v[m.end() :]))
    keyed.sort()
    return [v for _, _, v in keyed]
