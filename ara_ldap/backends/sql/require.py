"""``require``: can a reflected column hold what Asterisk asks for (type, width, range)."""

from __future__ import annotations

from ara_ldap.backends.base import FieldType, Requirement
from ara_ldap.backends.sql.columns import ColumnInfo, Kind, integer_range

_INT_REQUIREMENTS = {
    FieldType.INTEGER1: (8, True),
    FieldType.UINTEGER1: (8, False),
    FieldType.INTEGER2: (16, True),
    FieldType.UINTEGER2: (16, False),
    FieldType.INTEGER3: (24, True),
    FieldType.UINTEGER3: (24, False),
    FieldType.INTEGER4: (32, True),
    FieldType.UINTEGER4: (32, False),
    FieldType.INTEGER8: (64, True),
    FieldType.UINTEGER8: (64, False),
}


def _needed_range(ftype: FieldType) -> tuple[int, int]:
    bits, signed = _INT_REQUIREMENTS[ftype]
    if signed:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def requirement_problem(table: str, info: ColumnInfo, req: Requirement) -> str | None:
    """What stops column ``info`` from holding ``req`` (None: nothing)."""
    where = f"{req.field}: column {table}.{info.name}"
    kind = info.kind
    ftype = req.type

    def width_problem(needed: int) -> str | None:
        if info.length is not None and needed > info.length:
            return f"{where} holds at most {info.length} characters, {needed} required"
        return None

    if ftype is FieldType.UNKNOWN:
        return None
    if ftype.is_integer:
        low, high = _needed_range(ftype)
        if kind is Kind.INTEGER:
            have_low, have_high = integer_range(info.column.type)
            if have_low > low or have_high < high:
                return f"{where} holds {have_low}..{have_high}, {ftype.value} needs {low}..{high}"
            return None
        if kind is Kind.TEXT:
            return width_problem(req.size or max(len(str(low)), len(str(high))))
        if kind in (Kind.DECIMAL, Kind.FLOAT):
            precision = getattr(info.column.type, "precision", None)
            scale = getattr(info.column.type, "scale", None) or 0
            digits = len(str(high))
            if kind is Kind.DECIMAL and precision is not None and precision - scale < digits:
                return f"{where} holds {precision - scale} integer digits, {digits} required"
            return None
        return f"{where} holds {kind.value} values, not {ftype.value}"
    if ftype is FieldType.CHAR:
        if kind is Kind.TEXT:
            return width_problem(req.size)
        noun = "integers" if kind is Kind.INTEGER else f"{kind.value} values"
        return f"{where} holds {noun}, not char"
    if ftype is FieldType.FLOAT:
        if kind in (Kind.FLOAT, Kind.DECIMAL):
            return None
        if kind is Kind.TEXT:
            return width_problem(req.size)
        noun = "integers" if kind is Kind.INTEGER else f"{kind.value} values"
        return f"{where} holds {noun}, not float"
    # DATE, DATETIME
    if kind is Kind.DATETIME or (kind is Kind.DATE and ftype is FieldType.DATE):
        return None
    if kind is Kind.TEXT:
        return width_problem(max(req.size, 10 if ftype is FieldType.DATE else 19))
    noun = "integers" if kind is Kind.INTEGER else f"{kind.value} values"
    return f"{where} holds {noun}, not {ftype.value}"
