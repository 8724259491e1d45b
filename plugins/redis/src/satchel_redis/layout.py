"""Where satchel-redis keeps things: the Redis key of every record, log, index set and sorted
set.

Every record key of one satchel collection carries the same hash tag, ``{<collection>}``, so
a collection's records live in one Cluster slot and every Lua script touches keys of one
slot only::

    <prefix>{<tag>}:r:<key>                     hash: the record (fields below)
    <prefix>{<tag>}:k                           sorted set: every key (score 0, by byte order)
    <prefix>{<tag>}:x                           sorted set: keys with an expiry, scored by it
    <prefix>{<tag>}:xi                          hash: key -> '<version>:<index JSON>', for
                                                keys with an expiry
    <prefix>{<tag>}:f                           string: the version floor (see scripts.py)
    <prefix>{<tag>}:o:<bucket>                  hash: write id -> outcome, for retries
    <prefix>{<tag>}:i:<len(name)>:<name><value> set: the keys whose index ``name`` holds ``value``

The logs of a collection are spread over :data:`LOG_SLOTS` buckets, each with a hash tag
of its own, ``{<tag>%L<bucket>}`` (the bucket is :func:`log_bucket` of the log's key), so
that a collection's logs use up to :data:`LOG_SLOTS` slots, and nodes, of a Cluster while
each log, with everything a script of it touches, stays in one slot::

    <prefix>{<tag>%L<b>}:l:<key>                stream: the log's entries (see scripts.py)
    <prefix>{<tag>%L<b>}:lk                     sorted set: every log of the bucket, scored
                                                by the last sequence number it handed out
    <prefix>{<tag>%L<b>}:lx                     sorted set: logs with an expiry, scored by it
    <prefix>{<tag>%L<b>}:lf                     string: the bucket's sequence floor
    <prefix>{<tag>%L<b>}:o:<bucket>             hash: write id -> outcome, for retries

Why buckets rather than the collection's own slot: a collection of logs is typically one
per application (every chat history, every agent's events), and it grows without bound; in
one slot it would sit on one node of a Cluster, however many the Cluster has. Why not a
slot per log: the sequence floor, which must outlive a log's deletion so that numbers are
never reused, and the index that lists the logs would then need a key per log ever written,
or updates across slots, which no script can make atomic. A bucket keeps both in the slot
of the logs they describe, at a fixed cost of :data:`LOG_SLOTS` small keys per collection.

``<tag>`` is the collection name with ``%``, ``{`` and ``}`` percent-encoded, so that it can
never close the hash tag early and the name can be read back from a key. A record hash has
the fields ``v`` (the value as UTF-8 JSON), ``n`` (version), ``c``, ``u`` (created and
updated, Unix milliseconds), ``e`` (expires at, Unix milliseconds; absent when it never
expires) and ``i`` (index entries as JSON ``{name: [value, ...]}``; absent when none).
"""

from __future__ import annotations

import re
import zlib
from typing import Final

from satchel.errors import ConfigError
from satchel.query import escape_glob

__all__ = ["LOG_SLOTS", "Layout", "decode_tag", "encode_tag", "log_bucket"]

#: How many buckets (hash tags, so Cluster slots) the logs of one collection are spread over.
#: Part of the stored layout: changing it would lose track of the logs already written.
LOG_SLOTS: Final = 16

#: ``{<tag>%L<b>}:lk``: ``%L`` never occurs in a record tag (every ``%`` there is ``%25``,
#: ``%7B`` or ``%7D``), so the bucket's tag cannot be any collection's.
_LOG_INDEX = re.compile(r"\{([^{}]*)%L(0|[1-9][0-9]?)\}:lk")

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


def log_bucket(key: str) -> int:
    """The bucket of the log ``key`` (0 to :data:`LOG_SLOTS` - 1): the same in every process."""
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % LOG_SLOTS


class Layout:
    """The key names under one prefix (``SATCHEL_REDIS_KEY_PREFIX``)."""

    __slots__ = ("_bases", "_log_bases", "prefix")

    def __init__(self, prefix: str) -> None:
        if "{" in prefix or "}" in prefix:
            raise ConfigError(
                f"SATCHEL_REDIS_KEY_PREFIX={prefix!r}: must not contain '{{' or '}}' "
                "(satchel puts each collection in a hash tag of its own)"
            )
        self.prefix = prefix
        self._bases: dict[str, str] = {}
        self._log_bases: dict[str, tuple[str, ...]] = {}

    def base(self, collection: str) -> str:
        """``<prefix>{<tag>}:``, the start of every key of ``collection``."""
        base = self._bases.get(collection)
        if base is None:
            base = f"{self.prefix}{{{encode_tag(collection)}}}:"
            if len(self._bases) < 4096:  # a cache of the names in use, not of every name
                self._bases[collection] = base
        return base

    def log_bases(self, collection: str) -> tuple[str, ...]:
        """``<prefix>{<tag>%L<b>}:`` for every bucket ``b`` of ``collection``'s logs."""
        bases = self._log_bases.get(collection)
        if bases is None:
            tag = encode_tag(collection)
            bases = tuple(f"{self.prefix}{{{tag}%L{b}}}:" for b in range(LOG_SLOTS))
            if len(self._log_bases) < 4096:
                self._log_bases[collection] = bases
        return bases

    def log_base(self, collection: str, key: str) -> str:
        """The start of every key of the bucket that holds the log ``key``."""
        return self.log_bases(collection)[log_bucket(key)]

    @staticmethod
    def index_key(base: str, name: str, value: str) -> str:
        """The set of keys whose index ``name`` holds ``value`` (the Lua scripts build the
        same string: the name's length in UTF-8 bytes keeps name and value apart)."""
        return f"{base}i:{len(name.encode())}:{name}{value}"

    def keys_pattern(self) -> str:
        """A SCAN ``MATCH`` pattern for the key sorted sets of every collection: the records'
        (``...}:k``) and every log bucket's (``...}:lk``)."""
        return f"{escape_glob(self.prefix)}{{*}}:*k"

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
        tag = rest[1:close]
        name = decode_tag(tag)
        return name if encode_tag(name) == tag else None  # a log bucket's tag is none

    def log_bucket_of(self, redis_key: str) -> tuple[str, int] | None:
        """``(collection, bucket)`` whose log index is ``redis_key``, or ``None`` if it is
        not one."""
        if not redis_key.startswith(self.prefix):
            return None
        found = _LOG_INDEX.fullmatch(redis_key, len(self.prefix))
        if found is None or int(found.group(2)) >= LOG_SLOTS:
            return None
        return decode_tag(found.group(1)), int(found.group(2))


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
