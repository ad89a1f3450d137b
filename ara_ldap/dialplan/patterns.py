"""Asterisk extension matching, as ``main/pbx.c`` (``_extension_match_core``) does it.

Why this exists: the Realtime switch (``pbx_realtime``) fetches every pattern row of a
context and lets Asterisk pick the first row that matches.  A gateway that wants to
answer the switch's queries precisely (or pre-filter/order pattern rows) must reproduce
Asterisk's matcher bit for bit, including its odd corners.  The rules are those of
the curl protocol reference (``curl-protocol.md`` §8); where the prose is terse,
``main/pbx.c`` decided.

Strings are compared as Asterisk sees them: UTF-8 **bytes**, cut at the first NUL (a C
string ends there).  So a non-ASCII character is several "positions" long, and sets
and ranges compare unsigned byte values.  (pbx.c compares range ends as plain
``char``, which is signed on x86-64: there a range with a non-ASCII end, such as
``[a-é]``, behaves differently.  Nobody writes such ranges; we keep the byte order.)

Public API:

* :class:`MatchMode`, :class:`MatchResult` - Asterisk's ``E_*`` modes and 0/1/2 results;
* :func:`extension_match` - ``_extension_match_core``;
* :func:`matches` - the plain "does this row match this number" question;
* :func:`pattern_specificity_key` - the static-context order (``ext_cmp``);
* :func:`realtime_order` - the order in which ``pbx_realtime`` tries pattern rows;
* :func:`asterisk_switch_close` - ``pbx_realtime``'s swapped canmatch/matchmore call.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Iterator, Sequence

__all__ = [
    "MatchMode",
    "MatchResult",
    "SpecificityKey",
    "asterisk_switch_close",
    "extension_match",
    "matches",
    "pattern_specificity_key",
    "realtime_order",
]

log = logging.getLogger("ara_ldap.dialplan")


class MatchMode(enum.IntEnum):
    """What kind of match is asked for; the values are Asterisk's ``E_*`` modes.

    Asterisk masks ``E_SPAWN`` and ``E_FINDLABEL`` down to ``E_MATCH``; use
    :attr:`MATCH` for them.
    """

    MATCHMORE = 0
    """Partial only: more digits are needed (``E_MATCHMORE``)."""
    CANMATCH = 1
    """Exact or partial: this could still match (``E_CANMATCH``)."""
    MATCH = 2
    """Exact match (``E_MATCH``)."""


class MatchResult(enum.IntEnum):
    """Result of :func:`extension_match`; the values are Asterisk's return codes."""

    NO = 0
    YES = 1
    EARLY = 2
    """An ``!`` early match; every caller except static MATCHMORE treats it as yes."""


# Byte values of the characters the matcher cares about.
_DASH = ord("-")
_SLASH = ord("/")
_LBRACKET = ord("[")
_DOT = ord(".")
_BANG = ord("!")
_UNDERSCORE = b"_"

# Digit ranges of the wildcard letters (inclusive byte values); case-insensitive.
_WILDCARDS: dict[int, tuple[int, int]] = {
    ord(letter): (ord(low), ord("9"))
    for letters, low in (("Xx", "0"), ("Zz", "1"), ("Nn", "2"))
    for letter in letters
}

# Position scores of ext_cmp_pattern_pos: (set size << 8) | lowest byte for a set, these
# constants for the rest.  Smaller sorts first, so larger sets are less specific.
_SCORE_DOT = 0x18000
_SCORE_BANG = 0x28000
_SCORE_END = 0x30000
_SCORE_BAD_SET = 0x40000

SpecificityKey = tuple[int, bytes, tuple[tuple[int, int], ...]]
"""Sort key from :func:`pattern_specificity_key`; compare it, don't inspect it."""


def _c_bytes(text: str) -> bytes:
    """Return *text* as the C string Asterisk holds: UTF-8, cut at the first NUL."""
    raw = text.encode("utf-8", "surrogateescape")
    nul = raw.find(b"\0")
    return raw if nul < 0 else raw[:nul]


def _warn_unclosed(pattern: bytes) -> None:
    """Warn about ``[`` without ``]``, as Asterisk does (``Wrong usage of []``)."""
    log.warning(
        "Wrong usage of [] in the extension pattern %r: no closing ']'",
        pattern.decode("utf-8", "backslashreplace"),
    )


def extension_match(pattern: str, data: str, mode: MatchMode = MatchMode.MATCH) -> MatchResult:
    """Match dialed *data* against the extension *pattern* exactly like Asterisk does.

    This is ``_extension_match_core`` from ``main/pbx.c`` (curl-protocol.md §8):
    *pattern* is a literal extension, or a pattern when it starts with ``_``.
    The result is :attr:`MatchResult.EARLY` for an ``!`` early match; what that means
    is up to the caller (see :func:`matches` and :func:`asterisk_switch_close`).
    """
    mode = MatchMode(mode)
    pat = _c_bytes(pattern)
    dat = _c_bytes(data)
    if not pat.startswith(_UNDERSCORE):
        return _match_literal(pat, dat, mode)
    if mode == MatchMode.MATCH and dat.startswith(_UNDERSCORE) and _same_pattern(pat, dat):
        # pbx.c compares two patterns as patterns first, so "_X." is found by "_X.".
        return MatchResult.YES
    return _match_pattern(pat, dat, mode)


def matches(pattern: str, data: str) -> bool:
    """Tell whether *data* is an exact (E_MATCH) hit for *pattern*; ``!`` is a yes."""
    return extension_match(pattern, data, MatchMode.MATCH) != MatchResult.NO


def _match_literal(pat: bytes, dat: bytes, mode: MatchMode) -> MatchResult:
    """Non-pattern extensions: dashes are decoration, compare bytes (case-sensitive)."""
    plain_pat = pat.replace(b"-", b"")
    plain_dat = dat.replace(b"-", b"")
    if len(plain_pat) < len(plain_dat):
        return MatchResult.NO
    if mode == MatchMode.MATCH:
        return MatchResult(plain_pat == plain_dat)
    # Empty data is a prefix of everything, which is pbx.c's "ld == 0 ||" shortcut.
    if not plain_pat.startswith(plain_dat):
        return MatchResult.NO
    if mode == MatchMode.MATCHMORE:
        return MatchResult(len(plain_pat) > len(plain_dat))
    return MatchResult.YES


def _byte_in_set(pat: bytes, start: int, end: int, byte: int) -> bool:
    """Tell whether *byte* is in the set ``pat[start:end]`` (between ``[`` and ``]``).

    ``a-b`` is a range only when a character follows the dash inside the brackets; a
    reversed range (``9-0``) contains nothing.  Comparison is by byte value.
    """
    i = start
    while i < end:
        if i + 2 < end and pat[i + 1] == _DASH:
            if pat[i] <= byte <= pat[i + 2]:
                return True
            i += 3
        else:
            if pat[i] == byte:
                return True
            i += 1
    return False


def _match_pattern(pat: bytes, dat: bytes, mode: MatchMode) -> MatchResult:
    """Walk a ``_`` pattern against the data, then judge what is left (pbx.c order)."""
    p, d = 1, 0  # p skips the leading "_"
    plen, dlen = len(pat), len(dat)
    while True:
        # Dashes are skipped in both strings, so a dash in the data never matches.
        while d < dlen and dat[d] == _DASH:
            d += 1
        while p < plen and pat[p] == _DASH:
            p += 1
        if d >= dlen or p >= plen or pat[p] == _SLASH:
            break
        char, byte = pat[p], dat[d]
        if char == _LBRACKET:
            end = pat.find(b"]", p + 1)
            if end < 0:
                _warn_unclosed(pat)
                return MatchResult.NO
            if end == p + 1:
                p = end + 1  # "[]" is ignored and consumes no data
                continue
            if not _byte_in_set(pat, p + 1, end, byte):
                return MatchResult.NO
            p = end
        elif char in _WILDCARDS:
            low, high = _WILDCARDS[char]
            if not low <= byte <= high:
                return MatchResult.NO
        elif char == _DOT:
            return MatchResult.YES  # data remains, and "." takes one or more
        elif char == _BANG:
            return MatchResult.EARLY  # data remains, and "!" takes zero or more
        elif char != byte:
            return MatchResult.NO
        p += 1
        d += 1
    if d < dlen:
        return MatchResult.NO  # the data is longer than the pattern
    if p >= plen or pat[p] == _SLASH:
        # Exact match; MATCHMORE wants a pattern that still needs digits.
        return MatchResult.NO if mode == MatchMode.MATCHMORE else MatchResult.YES
    if pat[p] == _BANG:
        return MatchResult.EARLY
    # The pattern needs more (a pending "." counts: it needs at least one character).
    return MatchResult.NO if mode == MatchMode.MATCH else MatchResult.YES


def _charset_bits(chars: Iterable[int]) -> int:
    """Encode a byte set so that a bigger number means "lower bytes present".

    pbx.c orders equally scored sets by ``memcmp`` of a bitmap where byte 0 is the
    most significant bit; this integer has the same order.
    """
    bits = 0
    for byte in chars:
        bits |= 1 << (255 - byte)
    return bits


_WILDCARD_BITS = {
    letter: _charset_bits(range(low, high + 1)) for letter, (low, high) in _WILDCARDS.items()
}


def _pattern_positions(pat: bytes) -> Iterator[tuple[int, int]]:
    """Yield ``(score, bits)`` per position of ``_`` pattern *pat*, then the end score.

    This is ``ext_cmp_pattern_pos``: dashes are skipped, empty sets (including
    reversed ranges such as ``[9-0]``) are skipped, an unclosed ``[`` scores as an error
    and parsing resumes right after it.  Everything else, ``/`` included, is a literal.
    """
    i, plen = 1, len(pat)  # skip the leading "_"
    while True:
        while i < plen and pat[i] == _DASH:
            i += 1
        if i >= plen:
            yield _SCORE_END, 0
            return
        char = pat[i]
        i += 1
        if char == _DOT:
            yield _SCORE_DOT, 0
        elif char == _BANG:
            yield _SCORE_BANG, 0
        elif char in _WILDCARDS:
            low, high = _WILDCARDS[char]
            yield ((high - low + 1) << 8) | low, _WILDCARD_BITS[char]
        elif char != _LBRACKET:
            yield 0x100 | char, _charset_bits((char,))
        else:
            end = pat.find(b"]", i)
            if end < 0:
                _warn_unclosed(pat)
                yield _SCORE_BAD_SET, 0
                continue
            members: set[int] = set()
            lowest = 0xFF
            j = i
            while j < end:
                first = last = pat[j]
                if j + 2 < end and pat[j + 1] == _DASH:
                    last = pat[j + 2]
                    j += 2
                lowest = min(lowest, first)  # pbx.c takes the range start, even if empty
                members.update(range(first, last + 1))
                j += 1
            i = end + 1
            if members:  # an empty set is skipped: go on with the next position
                yield (len(members) << 8) | lowest, _charset_bits(members)


def _same_pattern(left: bytes, right: bytes) -> bool:
    """Tell whether two ``_`` patterns have equal sets, position by position."""
    for left_pos, right_pos in zip(
        _pattern_positions(left), _pattern_positions(right), strict=False
    ):
        if left_pos != right_pos:
            return False
        if left_pos[0] == _SCORE_END:
            return True
    return False  # not reached: both generators end with _SCORE_END


def pattern_specificity_key(pattern: str) -> SpecificityKey:
    """Sort key for Asterisk's static-context order (``ext_cmp``), most specific first.

    Literal extensions come before patterns (and sort among themselves by their bytes,
    dashes ignored).  Patterns compare position by position: smaller sets first, ties by
    lowest byte, then by the set's members (lower bytes first); ``.`` after any set,
    ``!`` after ``.``, end-of-pattern after ``!``.  pbx_realtime does not use this
    order; a gateway can use it to order pattern rows of equal length.

    Note: pbx.c compares literal bytes as (usually signed) ``char``; this key uses
    unsigned byte order, which only differs for non-ASCII literal extensions.
    """
    raw = _c_bytes(pattern)
    if not raw.startswith(_UNDERSCORE):
        return (0, raw.replace(b"-", b""), ())
    positions = tuple((score, -bits) for score, bits in _pattern_positions(raw))
    return (1, b"", positions)


def realtime_order(extens: Sequence[str | None]) -> list[int]:
    """Return the indices of *extens* in the order pbx_realtime tries pattern rows.

    The switch sorts rows by ``strlen(exten)`` (bytes; a missing exten is "")
    descending with a stable merge sort, so rows of equal length keep the backend's
    order.  The first row that matches wins.
    """
    lengths = [len(_c_bytes(exten or "")) for exten in extens]
    return sorted(range(len(lengths)), key=lambda index: -lengths[index])


# pbx_realtime calls ast_extension_close(exten, data, 1) for matchmore and (..., 0) for
# canmatch: the 2004 "needmore" flag.  Since E_MATCHMORE == 0 and E_CANMATCH == 1, that
# is the wrong core mode in both cases.
_SWITCH_CORE_MODE = {
    MatchMode.MATCH: MatchMode.MATCH,
    MatchMode.CANMATCH: MatchMode.MATCHMORE,
    MatchMode.MATCHMORE: MatchMode.CANMATCH,
}


def asterisk_switch_close(pattern: str, data: str, mode: MatchMode) -> bool:
    """Answer like pbx_realtime does for a row from its pattern query (bug-compatible).

    *mode* is the switch callback being served (exists/exec = MATCH, canmatch,
    matchmore).  pbx_realtime passes a literal ``1`` for matchmore and ``0`` for
    canmatch to ``ast_extension_close`` (curl-protocol.md §7.3), i.e. it asks the core
    for CANMATCH when serving matchmore and for MATCHMORE when serving canmatch.  So:

    * "matchmore" says yes for a complete match (``_1XX`` vs ``123``), which makes the
      digit collector wait for the digit timeout;
    * "canmatch" says yes only when more digits could follow (``_1X.`` yes, ``_1XX``
      no for ``123``);
    * an ``!`` early match (result 2) is non-zero, so it is yes in every mode.

    Rows answered by the switch's first, non-pattern query are not affected.
    """
    core_mode = _SWITCH_CORE_MODE[MatchMode(mode)]
    return extension_match(pattern, data, core_mode) != MatchResult.NO
