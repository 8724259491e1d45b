"""Where satchel-redis keeps things: the Redis key of every record, index set and sorted set.

Every key of one satchel collection carries the same hash tag, ``{<collection>}``, so a
collection lives in one Cluster slot and every Lua script touches keys of one slot only::

    <prefix>{<tag>}:r:<key>                     hash: the record (fields below)
    <prefix>{<tag>}:k                           sorted set: every key (score 0, by byte order)
    <prefix>{<tag>}:x                           sorted set: keys with an expiry, scored by it
    <prefix>{<tag>}:xi                          hash: key -> '<version>:<index JSON>', for
                                                keys with an expiry
    <prefix>{<tag>}:f                           string: the version floor (see scripts.py)
    <prefix>{<tag>}:o:<bucket>                  hash: write id -> outcome, for retries
    <prefix>{<tag>}:i:<len(name)>:<name><value> set: the keys whose index ``name`` holds ``value``

``<tag>`` is the collection name with ``%``, ``{`` and ``}`` percent-encoded, so that it can
never close the hash tag early and the name can be read back from a key. A record hash has
the fields ``v`` (the value as UTF-8 JSON), ``n`` (version), ``c``, ``u`` (created and
updated, Unix milliseconds), ``e`` (expires at, Unix milliseconds; absent when it never
expires) and ``i`` (index entries as JSON ``{name: [value, ...]}``; absent when none).
"""

from __future__ import annotations

import re

from satchel.errors import ConfigError
from satchel.query import escape_glob

__all__ = ["Layout", "decode_tag", "encode_tag"]

_TAG_ESCAPES = {"%": "%25", "{": "%7B", "}": "%7D"}
_TAG_UNESCAPE = re.compile(r"%(25|7B|7D)")
_UNESCAPES = {"25": "%", "7B": "{", "7D": "}"}


def encode_tag(collection: str) -> str:
    """The hash tag body of ``collection``: never contains ``}``; reversible."""
    if "%" not in collection and "{" not in collection and "}" not in collection:
        return collection
    return "".join(_TAG_ESCAPES.get(ch, ch) for ch in collection)


def decode_tag(tag: str) -> str:
    """The collection name a tag body was made from."""
    return _TAG_UNESCAPE.sub(lambda m: _UNESCAPES[m.group(1)], tag)


class Layout:
    """The key names under one prefix (``SATCHEL_REDIS_KEY_PREFIX``)."""

    __slots__ = ("_bases", "prefix")

    def __init__(self, prefix: str) -> None:
        if "{" in prefix or "}" in prefix:
            raise ConfigError(
                f"SATCHEL_REDIS_KEY_PREFIX={prefix!r}: must not contain '{{' or '}}' "
                "(satchel puts each collection in a hash tag of its own)"
            )
        self.prefix = prefix
        self._bases: dict[str, str] = {}

    def base(self, collection: str) -> str:
        """``<prefix>{<tag>}:``, the start of every key of ``collection``."""
        base = self._bases.get(collection)
        if base is None:
            base = f"{self.prefix}{{{encode_tag(collection)}}}:"
            if len(self._bases) < 4096:  # a cache of the names in use, not of every name
                self._bases[collection] = base
        return base

    @staticmethod
    def index_key(base: str, name: str, value: str) -> str:
        """The set of keys whose index ``name`` holds ``value`` (the Lua scripts build the
        same string: the name's length in UTF-8 bytes keeps name and value apart)."""
        return f"{base}i:{len(name.encode())}:{name}{value}"

    def keys_pattern(self) -> str:
        """A SCAN ``MATCH`` pattern for the key sorted sets of every collection."""
        return f"{escape_glob(self.prefix)}{{*}}:k"

    def collection_of(self, redis_key: str) -> str | None:
        """The collection whose key sorted set is ``redis_key``, or ``None`` if it is not
        one (SCAN patterns are loose: ``*`` may run over ``}``)."""
        if not redis_key.startswith(self.prefix) or not redis_key.endswith("}:k"):
            return None
        rest = redis_key[len(self.prefix) :]
        if not rest.startswith("{"):
            return None
        close = rest.find("}")
        if close != len(rest) - 3:
            return None
        return decode_tag(rest[1:close])


def server_pattern(pattern: str) -> str:
    """A Redis ``MATCH`` pattern that matches every key ``pattern`` matches, and maybe more.

    Redis matches bytes, satchel matches characters: ``?`` and ``[...]`` stand for one
    character, which in UTF-8 may be several bytes, so both become ``*`` here and the exact
    pattern (:func:`satchel.query.compile_glob`) is applied to what the server returns.
    Literal characters, escaped or not, stay as they are.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch in "*?":
            ch = "*"
        elif ch == "[":
            j = i + 1
            if j < n and pattern[j] in "^!":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" and j + 1 < n else 1
            i, ch = j, "*"
        if ch == "*" and out and out[-1] == "*":
            i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)
