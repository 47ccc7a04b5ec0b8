"""The one Flight SQL message the client sends: ``CommandStatementQuery``
wrapped in ``google.protobuf.Any`` (hand-encoded: two length-delimited
protobuf fields each)."""

from __future__ import annotations

_TYPE_URL = "type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def statement_query(query: str) -> bytes:
    """The descriptor command for running ``query``."""
    command = _field(1, query.encode())
    return _field(1, _TYPE_URL.encode()) + _field(2, command)
