"""The MongoDB wire protocol, as far as a fault test's proxy needs it
(:class:`satchel.testing.proxy.FaultProxy`): read one whole message off a stream, and
decode the command an ``OP_MSG`` carries."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import bson

__all__ = ["command_of", "read_message"]

_OP_MSG = 2013


async def read_message(reader: asyncio.StreamReader) -> bytes:
    """The next whole message (its length comes first); ``b""`` when the stream ends."""
    try:
        header = await reader.readexactly(4)
        (length,) = struct.unpack("<i", header)
        return header + await reader.readexactly(length - 4)
    except asyncio.IncompleteReadError:
        return b""


def command_of(message: bytes) -> dict[str, Any]:
    """The command of an ``OP_MSG`` (its body, with each document sequence under its name:
    ``{"update": ..., "updates": [...]}``); ``{}`` for any other message."""
    if len(message) < 21 or struct.unpack_from("<i", message, 12)[0] != _OP_MSG:
        return {}
    command: dict[str, Any] = {}
    (flags,) = struct.unpack_from("<I", message, 16)
    end_of_sections = len(message) - (4 if flags & 1 else 0)  # bit 0: a checksum follows
    at = 20  # the header (16 bytes) and the flags (4)
    while at < end_of_sections:
        kind = message[at]
        at += 1
        (size,) = struct.unpack_from("<i", message, at)
        if kind == 0:
            command.update(bson.decode(message[at : at + size]))
        elif kind == 1:
            end = at + size
            name_end = message.index(b"\x00", at + 4)
            name = message[at + 4 : name_end].decode()
            docs, cursor = [], name_end + 1
            while cursor < end:
                (doc_size,) = struct.unpack_from("<i", message, cursor)
                docs.append(bson.decode(message[cursor : cursor + doc_size]))
                cursor += doc_size
            command[name] = docs
        else:
            break  # a kind this helper does not know
        at += size
    return command
