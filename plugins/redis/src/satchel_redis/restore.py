"""``restore_many`` of satchel-redis: records stored with their version and times as given
(see :meth:`satchel.backend.Backend.restore_many`), one Lua script per collection.

The script keeps every rule of the record layout (:mod:`satchel_redis.layout`): the hash,
the key sorted set, the expiry set and its ``xi`` entry, the index sets, and the version
floor. The record a restore replaces counts as removed when its version is above the
restored one (the floor rises to it), an already expired record is stored as a write that
arrives expired is (nothing kept, the floor raised to its version), and the call's outcome is
recorded under its write id as every write's is, so that a retry after a lost reply never
applies it twice over a later write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from satchel.backend import Record, check_restore
from satchel.toolkit import encode_json
from satchel_redis.scripts import SWEEP_PER_WRITE, Script
from satchel_redis.stored import now_ms, unix_ms

if TYPE_CHECKING:
    from satchel_redis.backend import RedisBackend

__all__ = ["RESTORE", "restore_many"]

#: KEYS: the key sorted set. ARGV: base, now, token, keep, then (key, value, version, created,
#: updated, expires or '', index JSON or '')... Returns {'ok'}.
RESTORE: Final = Script(
    "restore_many",
    f"""
local token, keep = ARGV[3], ARGV[4]
local done = recall(token)
if done then return done end
guard()
for j = 5, #ARGV, 7 do
  local key, n, e, ij = ARGV[j], tonumber(ARGV[j + 2]), ARGV[j + 5], ARGV[j + 6]
  local rk = base .. 'r:' .. key
  local cur = load(rk)
  if cur == false then cur = nil end  -- not a satchel record: replaced like a put replaces it
  local old
  if cur then old = cur.n else old = xinfo(key) end
  -- versions up to the restored one stay covered by it; a higher one counts as removed
  if old and old > n then raise_floor(old) end
  unindex(key, old_index(key, cur))
  redis.call('DEL', rk)
  if e ~= '' and tonumber(e) <= now then
    -- expired already: nothing is kept, and the floor covers its version
    raise_floor(n)
    redis.call('ZREM', base .. 'k', key)
    redis.call('ZREM', base .. 'x', key)
    redis.call('HDEL', base .. 'xi', key)
  else
    local fields = {{'v', ARGV[j + 1], 'n', ARGV[j + 2], 'c', ARGV[j + 3], 'u', ARGV[j + 4]}}
    if e ~= '' then
      fields[#fields + 1] = 'e'
      fields[#fields + 1] = e
    end
    if ij ~= '' then
      fields[#fields + 1] = 'i'
      fields[#fields + 1] = ij
    end
    redis.call('HSET', rk, unpack(fields))
    redis.call('ZADD', base .. 'k', 0, key)
    if e ~= '' then
      redis.call('PEXPIREAT', rk, tonumber(e) + GRACE_MS)
      redis.call('ZADD', base .. 'x', e, key)
      redis.call('HSET', base .. 'xi', key, ARGV[j + 2] .. ':' .. ij)
    else
      redis.call('ZREM', base .. 'x', key)
      redis.call('HDEL', base .. 'xi', key)
    end
    for _, ik in ipairs(index_keys(ij)) do redis.call('SADD', ik, key) end
  end
end
sweep({SWEEP_PER_WRITE})
return remember(token, keep, {{'ok'}})
""",
)


async def restore_many(backend: RedisBackend, records: Sequence[Record]) -> None:
    """:meth:`RedisBackend.restore_many`: every record checked and encoded first (nothing
    is written when one is refused), then one script call per collection, atomic there."""
    checked = check_restore(records)
    groups: dict[str, list[Any]] = {}
    for record in checked:
        text = backend._value_text(
            record.value, f"value of {record.key!r}", f" in {record.collection!r}"
        )
        index = b""
        if any(record.index.values()):
            index = encode_json({n: list(v) for n, v in record.index.items() if v})[0]
        assert record.created_at is not None  # check_restore made sure of both
        assert record.updated_at is not None
        groups.setdefault(record.collection, []).extend(
            [
                record.key,
                text,
                str(record.version),
                str(unix_ms(record.created_at)),
                str(unix_ms(record.updated_at)),
                "" if record.expires_at is None else str(unix_ms(record.expires_at)),
                index,
            ]
        )
    for collection, items in groups.items():
        await _restore_collection(backend, collection, items)


async def _restore_collection(backend: RedisBackend, collection: str, items: list[Any]) -> None:
    base = backend._layout.base(collection)
    keys = [f"{base}k"]
    args: list[Any] = [base, now_ms(), backend._token(), backend._keep_ms, *items]

    def what() -> str:
        return f"restore_many of {len(items) // 7} records in {collection!r}"

    def call() -> Any:
        return RESTORE(backend._client, keys, args)

    await backend._run(what, call, keys[0])
