"""The hand-read Sync State control equals pyasn1's reading, and falls back to it."""

from __future__ import annotations

import pytest
from pyasn1.codec.ber import encoder

from ara_ldap.backends.ldap.syncrepl import (
    SyncState,
    SyncStateValue,
    _fast_sync_state,
    decode_sync_state,
)


def _encoded(state: int, uuid: bytes, cookie: bytes | None) -> bytes:
    value = SyncStateValue()
    value["state"] = state
    value["entryUUID"] = uuid
    if cookie is not None:
        value["cookie"] = cookie
    return bytes(encoder.encode(value))


@pytest.mark.parametrize("state", [0, 1, 2, 3])
@pytest.mark.parametrize(
    "cookie", [None, b"", b"rid=000,csn=20261202130441.624917Z#000000#000#000000", b"x" * 300]
)
def test_fast_sync_state_reads_what_pyasn1_encodes(state: int, cookie: bytes | None) -> None:
    uuid = bytes(range(16))
    data = _encoded(state, uuid, cookie)
    assert _fast_sync_state(data) == SyncState(state, uuid, cookie)


@pytest.mark.parametrize("cut", [1, 3, 10])
def test_fast_sync_state_refuses_truncated_data(cut: int) -> None:
    data = _encoded(1, bytes(16), b"rid=000")
    with pytest.raises((ValueError, IndexError)):
        _fast_sync_state(data[:-cut])


def test_indefinite_length_falls_back_to_pyasn1() -> None:
    data = _encoded(2, bytes(16), None)
    indefinite = b"\x30\x80" + data[2:] + b"\x00\x00"  # BER, not DER: pyasn1 reads it
    assert decode_sync_state(indefinite) == SyncState(2, bytes(16), None)
