"""Field ⇄ attribute mapping for one family: entries to records and records to entries.

The attribute map is the contract between Asterisk's column names and the directory.
Only mapped attributes become fields (res_config_ldap also returns ``objectClass`` and any
unmapped attribute under its LDAP name; nothing in Asterisk wants those).  Multi-valued
fields are multi-valued attributes, read back in order; see docs/ldap.md for how order is
kept (``value_order``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ara_ldap.backends.ldap.filters import escape_dn_value
from ara_ldap.config import LdapFamily, RdnTemplate
from ara_ldap.errors import BadRequest, UnknownField, describe_value
from ara_ldap.record import Pair, Record

_PREFIX_RE = re.compile(r"^\{(\d+)\}")
_MD5_PREFIX = re.compile(r"^\{md5\}", re.IGNORECASE)


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
        self._index = {f: i for i, f in enumerate(self.fields)}
        # Server attribute spelling -> (position, field); filled lazily, None = unmapped.
        self._slots: dict[str, tuple[int, str] | None] = {}
        # Fields whose values need more than decoding.
        self._special = {
            f for f in self.fields if f.lower() in self.prefixed | self.split_fields | {"md5secret"}
        }

    # Names ------------------------------------------------------------------------------
    def field(self, name: str) -> str:
        """The canonical spelling of a field name (case-insensitive); UnknownField if none."""
        try:
            return self._field_by_key[name.lower()]
        except KeyError:
            raise UnknownField(
                f"family {self.name!r} has no field {name!r} (not in its attribute map)"
            ) from None

    def has_field(self, name: str) -> bool:
        return name.lower() in self._field_by_key

    def attribute(self, field: str) -> str:
        return self._attr_by_key[self.field(field).lower()]

    def is_prefixed(self, field: str) -> bool:
        return field.lower() in self.prefixed

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
            if raw_values:
                found.append((slot[0], slot[1], raw_values))
        found.sort(key=_first)
        pairs: list[Pair] = []
        special = self._special
        for _, fld, raw_values in found:
            values = [v.decode("utf-8", "replace") for v in raw_values]
            if fld in special:
                values = self._transform(fld, values)
            pairs.extend([(fld, v) for v in values if v])
        return Record._trusted(tuple(pairs))

    def _slot_for(self, attr: str) -> tuple[int, str] | None:
        """Resolve a server-spelled attribute name once, then remember it."""
        fld = self._field_by_attr.get(attr.lower())
        if fld is None:
            self._slots[attr] = None
            return None
        slot = (self._index[fld], fld)
        self._slots[attr] = slot
        return slot

    def _transform(self, fld: str, values: list[str]) -> list[str]:
        key = fld.lower()
        if key in self.prefixed:
            values = _strip_positions(values)
        if key == "md5secret":
            values = [_MD5_PREFIX.sub("", v) for v in values]
        if key in self.split_fields:
            values = [c.strip() for v in values for c in v.split(";") if c.strip()]
        return values

    # Writing ----------------------------------------------------------------------------
    def group(
        self, record: Iterable[Pair], strict: bool = True
    ) -> tuple[dict[str, list[str]], list[str]]:
        """``{canonical field: [values]}`` plus the unknown field names (error if strict)."""
        grouped: dict[str, list[str]] = {}
        unknown: list[str] = []
        for name, value in record:
            key = name.lower()
            fld = self._field_by_key.get(key)
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
        return self.rdn_template.format(**values)

    def dn_for(self, rdn_value: str) -> str:
        return f"{self.rdn_attribute}={escape_dn_value(rdn_value)},{self.base_dn}"

    def entry_for(self, record: Record) -> EntryValues:
        """Attributes for a new entry; unknown fields are an error."""
        grouped, _ = self.group(record, strict=True)
        attributes: dict[str, list[str]] = {}
        for fld, values in grouped.items():
            written = self.attribute_values(fld, values)
            if written:
                attributes[self._attr_by_key[fld.lower()]] = written
        rdn_value = self.rdn_for(grouped)
        if self.rdn_template is not None:
            attributes.setdefault(self.rdn_attribute, [rdn_value])
        return EntryValues(attributes, self.rdn_attribute, rdn_value)

    def describe(self, field: str, value: str) -> str:
        return describe_value(field, value, self.secret_fields)


def _first(item: tuple[int, str, Sequence[bytes]]) -> int:
    return item[0]


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
