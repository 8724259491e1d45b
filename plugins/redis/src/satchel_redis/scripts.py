"""The Lua scripts of satchel-redis: every write, and every read that must see a record with
its index and ordering entries as one, is one script run atomically on the server.

Each script receives the collection's key base (``<prefix>{<tag>}:``; for a log, the base of
its bucket, ``<prefix>{<tag>%L<b>}:``) as ``ARGV[1]`` and the client's clock, in Unix
milliseconds, as ``ARGV[2]``; the keys it touches all carry that base's hash tag, so on a
Cluster the whole script runs on the node that owns its slot.

Every write script also receives a write id and how long to keep its outcome. Before it
changes anything it looks the id up in the base's outcome log (``<base>o:<bucket>``,
a hash per ``OUTCOME_BUCKET_MS`` of the client's clock, so that a retry, which sends the same
clock, looks in the same bucket); when it finds it, the write already ran (its answer was
lost, or it reached the server after its own retry) and the script returns the recorded
outcome, changing nothing. Otherwise it runs and records its outcome there, in the same
atomic step. An empty write id (a client that never retries) records nothing.

Scripts are sent once and then called by SHA1 (``EVALSHA``); a server that answers
``NOSCRIPT`` (restarted, failed over, ``SCRIPT FLUSH``) gets the source again.
"""

from __future__ import annotations

import hashlib
from typing import Any

from redis.exceptions import NoScriptError

__all__ = ["OUTCOME_BUCKET_MS", "SCRIPTS", "Script"]

#: The span of client time whose write outcomes share one hash of the outcome log.
OUTCOME_BUCKET_MS = 10_000

# Helpers shared by every script. A record hash: v value, n version, c created, u updated,
# e expires (absent: never), i index JSON (absent: none).
_PRELUDE = r"""
local base = ARGV[1]
local now = tonumber(ARGV[2])
local OUTCOME_BUCKET_MS = @OUTCOME_BUCKET_MS@
-- Redis drops an expired record's hash this long after expires_at (satchel hides it from
-- expires_at on): a margin for a server clock ahead of the clients'
local GRACE_MS = 60000

local function ikey(name, value)
  return base .. 'i:' .. #name .. ':' .. name .. value
end

-- the index sets an index JSON ({name: [value, ...]}) puts a key in
local function index_keys(ij)
  local out = {}
  if not ij or ij == '' then return out end
  local ok, idx = pcall(cjson.decode, ij)
  if not ok or type(idx) ~= 'table' then return out end
  for name, values in pairs(idx) do
    if type(name) == 'string' and type(values) == 'table' then
      for _, v in ipairs(values) do
        if type(v) == 'string' then out[#out + 1] = ikey(name, v) end
      end
    end
  end
  return out
end

-- nil: no record; false: something that is not a satchel record; else its metadata
local function load(rk)
  local t = redis.call('TYPE', rk)['ok']
  if t == 'none' then return nil end
  if t ~= 'hash' then return false end
  local h = redis.call('HMGET', rk, 'n', 'c', 'e', 'i')
  local n = tonumber(h[1])
  if not n or not tonumber(h[2]) then return false end
  local e = tonumber(h[3])
  return {n = n, c = h[2], e = e, i = h[4], live = (e == nil or e > now)}
end

-- the version and index JSON kept beside an expiring record in `xi` ('<n>:<index JSON>'),
-- which outlive its hash when Redis expires that by itself
local function xinfo(key)
  local v = redis.call('HGET', base .. 'xi', key)
  if not v then return nil, nil end
  local n, ij = string.match(v, '^(%d+):(.*)$')
  if n then return tonumber(n), ij end
  return nil, v  -- kept by an older satchel: the index JSON alone
end

-- the index JSON of a record, also when Redis has already expired its hash (a hash that
-- is there holds its own: `xi` only repeats it, for an expiring record)
local function old_index(key, cur)
  if cur then return cur.i end
  local _, ij = xinfo(key)
  return ij
end

-- the collection's version floor: at least every version a removed record had
local function raise_floor(n)
  if not n then return end
  local fk = base .. 'f'
  local f = tonumber(redis.call('GET', fk))
  if not f or n > f then redis.call('SET', fk, n) end
end

-- the version of a new incarnation of `key` (its earlier one, `cur`, not live or gone)
local function new_version(key, cur)
  local old
  if cur then old = cur.n else old = xinfo(key) end
  local fk = base .. 'f'
  local f = tonumber(redis.call('GET', fk)) or 0
  if old and old > f then
    f = old
    redis.call('SET', fk, f)
  end
  return f + 1
end

local function unindex(key, ij)
  for _, ik in ipairs(index_keys(ij)) do redis.call('SREM', ik, key) end
end

-- delete a record (`cur`: its metadata, nil when its hash is gone or not a record) and
-- every entry that points at it; the floor rises to its version
local function remove(key, cur)
  local n, ij
  if cur then n, ij = cur.n, cur.i else n, ij = xinfo(key) end
  raise_floor(n)
  unindex(key, ij)
  redis.call('DEL', base .. 'r:' .. key)
  redis.call('ZREM', base .. 'k', key)
  if not cur or cur.e then  -- a record stored without an expiry has no expiry entries
    redis.call('ZREM', base .. 'x', key)
    redis.call('HDEL', base .. 'xi', key)
  end
end

-- remove up to `limit` expired records with their entries; how many were removed, and
-- how many expiry entries were walked. An entry whose record's own expiry says it is live
-- (an entry left stale by a change from outside) is dropped, and the record kept.
local function sweep(limit)
  local gone = redis.call('ZRANGEBYSCORE', base .. 'x', '-inf', now, 'LIMIT', 0, limit)
  local removed = 0
  for _, key in ipairs(gone) do
    local cur = load(base .. 'r:' .. key)
    if cur and cur.live then
      local rk = base .. 'r:' .. key
      redis.call('ZREM', base .. 'x', key)
      if cur.e then
        redis.call('ZADD', base .. 'x', cur.e, key)
        redis.call('HSET', base .. 'xi', key, string.format('%d', cur.n) .. ':' .. (cur.i or ''))
        redis.call('PEXPIREAT', rk, cur.e + GRACE_MS)
      else
        redis.call('HDEL', base .. 'xi', key)
        redis.call('PERSIST', rk)  -- no expiry: Redis must not drop it either
      end
    else
      remove(key, cur or nil)
      removed = removed + 1
    end
  end
  return removed, #gone
end

-- Redis refuses a script under maxmemory only at its first write command that could
-- allocate; make that the first write, before anything is changed (ZADD XX of a score that
-- is already there changes nothing)
local function guard()
  redis.call('ZADD', base .. 'k', 'XX', 0, '')
end

-- the outcome log's hash for this call's clock (a retry sends the same clock)
local function outcome_key()
  return base .. 'o:' .. string.format('%d', math.floor(now / OUTCOME_BUCKET_MS))
end

-- what the write `token` answered, if it already ran (nil: it did not). Outcomes are kept
-- in MessagePack (cheaper for the server to write than JSON, and exact for every number);
-- one kept as JSON by an earlier satchel starts with '[' or '{', which MessagePack's
-- encoding of a table never does
local function recall(token)
  if token == '' then return nil end
  local got = redis.call('HGET', outcome_key(), token)
  if not got then return nil end
  local first = string.sub(got, 1, 1)
  if first == '[' or first == '{' then return cjson.decode(got) end
  return cmsgpack.unpack(got)
end

-- record the outcome of the write `token` for at least `keep` ms; returns the outcome
local function remember(token, keep, outcome)
  if token ~= '' then
    local ok = outcome_key()
    redis.call('HSET', ok, token, cmsgpack.pack(outcome))
    keep = tonumber(keep)
    if redis.call('PTTL', ok) < keep then
      -- renewed at most once per bucket span, and never shortened by a client that keeps less
      redis.call('PEXPIRE', ok, keep + OUTCOME_BUCKET_MS)
    end
  end
  return outcome
end

-- write a record over `cur` (nil when absent, or not a record); its version and created
-- time. Its first command is the listing's ZADD, which may allocate: under maxmemory Redis
-- refuses it before anything has changed (see guard)
local function write(key, value, e, ij, cur)
  local rk = base .. 'r:' .. key
  -- listed again even when it is (a listing damaged from outside heals)
  redis.call('ZADD', base .. 'k', 0, key)
  local n, c
  if cur and cur.live then
    n, c = cur.n + 1, cur.c
  else
    n, c = new_version(key, cur), ARGV[2]
  end
  unindex(key, old_index(key, cur))
  redis.call('DEL', rk)
  if e ~= '' and tonumber(e) <= now then
    -- expired on arrival: nothing is kept, and the floor covers its version
    raise_floor(n)
    redis.call('ZREM', base .. 'k', key)
    redis.call('ZREM', base .. 'x', key)
    redis.call('HDEL', base .. 'xi', key)
    return n, c
  end
  if e ~= '' and ij ~= '' then
    redis.call('HSET', rk, 'v', value, 'n', n, 'c', c, 'u', ARGV[2], 'e', e, 'i', ij)
  elseif e ~= '' then
    redis.call('HSET', rk, 'v', value, 'n', n, 'c', c, 'u', ARGV[2], 'e', e)
  elseif ij ~= '' then
    redis.call('HSET', rk, 'v', value, 'n', n, 'c', c, 'u', ARGV[2], 'i', ij)
  else
    redis.call('HSET', rk, 'v', value, 'n', n, 'c', c, 'u', ARGV[2])
  end
  -- the expiry entries of a record stored without an expiry were never made (every script
  -- that writes `e` writes them, and the one that drops it removes them; `sweep` drops a
  -- stale one without touching the record)
  if e ~= '' then
    redis.call('PEXPIREAT', rk, tonumber(e) + GRACE_MS)
    redis.call('ZADD', base .. 'x', e, key)
    redis.call('HSET', base .. 'xi', key, string.format('%d', n) .. ':' .. ij)
  elseif not cur or cur.e then
    redis.call('ZREM', base .. 'x', key)
    redis.call('HDEL', base .. 'xi', key)
  end
  for _, ik in ipairs(index_keys(ij)) do redis.call('SADD', ik, key) end
  return n, c
end
""".replace("@OUTCOME_BUCKET_MS@", str(OUTCOME_BUCKET_MS))

#: How many expired records each write clears away as it goes (purge_expired does the rest).
SWEEP_PER_WRITE = 16

_BODIES = {
    # KEYS: record. ARGV: base, now, key, value, expires, index, mode, token, keep.
    # mode: '' unconditional, 'a' if absent, else the version the record must have.
    "put": f"""
local rk, key, mode, token, keep = KEYS[1], ARGV[3], ARGV[7], ARGV[8], ARGV[9]
-- a recalled outcome writes nothing, so it is answered even by a server out of memory
local done = recall(token)
if done then return done end
local cur = load(rk)
if cur == false then
  if mode ~= '' then return remember(token, keep, {{'corrupt'}}) end
  cur = nil  -- written over: write() removes it after its first command
end
local live = cur and cur.live
if mode == 'a' then
  if live then return remember(token, keep, {{'exists', cur.n}}) end
elseif mode ~= '' then
  if not live then return remember(token, keep, {{'missing'}}) end
  if cur.n ~= tonumber(mode) then return remember(token, keep, {{'conflict', cur.n}}) end
end
local n, c = write(key, ARGV[4], ARGV[5], ARGV[6], cur)
sweep({SWEEP_PER_WRITE})
return remember(token, keep, {{'ok', n, c}})
""",
    # KEYS: the key sorted set. ARGV: base, now, token, keep, then (key, value, expires,
    # index)... The batch is one write: its outcome (every version and created time) is
    # recorded whole.
    "put_many": f"""
local token, keep = ARGV[3], ARGV[4]
local done = recall(token)
if done then return done end
local out = {{}}
for j = 5, #ARGV, 4 do
  local key = ARGV[j]
  local cur = load(base .. 'r:' .. key)
  if cur == false then cur = nil end  -- written over: write() removes it
  local n, c = write(key, ARGV[j + 1], ARGV[j + 2], ARGV[j + 3], cur)
  out[#out + 1] = n
  out[#out + 1] = c
end
sweep({SWEEP_PER_WRITE})
return remember(token, keep, out)
""",
    # KEYS: record. ARGV: base, now, key, mode ('' or the version the record must have),
    # token, keep. The outcome is recorded after the removal: a script's first write
    # command is the one Redis refuses under maxmemory, and a removal must not be refused.
    "delete": f"""
local rk, key, mode, token, keep = KEYS[1], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local done = recall(token)
if done then return done end
local cur = load(rk)
if cur == false then
  if mode ~= '' then return remember(token, keep, {{'corrupt'}}) end
  remove(key, nil)
  return remember(token, keep, {{'ok', 1}})
end
local live = cur and cur.live
if mode ~= '' then
  if not live then return remember(token, keep, {{'missing'}}) end
  if cur.n ~= tonumber(mode) then return remember(token, keep, {{'conflict', cur.n}}) end
end
remove(key, cur)
sweep({SWEEP_PER_WRITE})
if live then return remember(token, keep, {{'ok', 1}}) end
return remember(token, keep, {{'ok', 0}})
""",
    # KEYS: a record. ARGV: base, 0. What exists needs to answer as get would, without
    # the value: the fields n c u e i (nil where missing), then 1 when the hash has its
    # value field v (else 0), then 1 when the key holds a hash (else 0); 'corrupt' where
    # it holds another type.
    "exists": """
local f = redis.pcall('HMGET', KEYS[1], 'n', 'c', 'u', 'e', 'i')
if f['err'] then return 'corrupt' end
f[6] = redis.call('HEXISTS', KEYS[1], 'v')
if f[6] == 1 or f[1] or f[2] or f[3] or f[4] or f[5] then
  f[7] = 1
else  -- none of the fields: no hash, or one of other fields only
  f[7] = redis.call('EXISTS', KEYS[1])
end
return f
""",
    # KEYS: records. ARGV: base, 0. Four replies per record, flat (few replies for the
    # client to parse): the metadata 'n c u' (a field missing is empty; nil where there is
    # no record, 'corrupt' where the key holds another type), the expiry, the value and the
    # index JSON (nil where missing). Expiry is checked by the caller, first, as get does,
    # which a field of the metadata garbled from outside cannot hide in its own reply.
    "get_many": """
local out = {}
for _, rk in ipairs(KEYS) do
  local h = redis.pcall('HGETALL', rk)
  local n = #out
  if h['err'] then
    out[n + 1] = 'corrupt'; out[n + 2] = false; out[n + 3] = false; out[n + 4] = false
  elseif #h == 0 then
    out[n + 1] = false; out[n + 2] = false; out[n + 3] = false; out[n + 4] = false
  else
    local f = {}
    for j = 1, #h, 2 do f[h[j]] = h[j + 1] end
    out[n + 1] = table.concat({f['n'] or '', f['c'] or '', f['u'] or ''}, ' ')
    out[n + 2] = f['e'] or false
    out[n + 3] = f['v'] or false
    out[n + 4] = f['i'] or false
  end
end
return out
""",
    # KEYS: an index set. ARGV: base, now. Returns key, HGETALL, key, HGETALL, ... of the
    # live records it lists (HGETALL replaced by 'corrupt' for what is not a record), and
    # drops the members whose record is gone or no longer holds the entry.
    "find": """
local out = {}
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local rk = base .. 'r:' .. key
  local t = redis.call('TYPE', rk)['ok']
  if t == 'hash' then
    local h = redis.call('HGETALL', rk)
    local ij, e = nil, nil
    for j = 1, #h, 2 do
      if h[j] == 'i' then ij = h[j + 1] elseif h[j] == 'e' then e = tonumber(h[j + 1]) end
    end
    local listed = false
    for _, ik in ipairs(index_keys(ij)) do
      if ik == KEYS[1] then listed = true; break end
    end
    if not listed then
      redis.call('SREM', KEYS[1], key)
    elseif e == nil or e > now then
      out[#out + 1] = key
      out[#out + 1] = h
    end
  elseif t == 'none' then
    redis.call('SREM', KEYS[1], key)
  else
    out[#out + 1] = key
    out[#out + 1] = 'corrupt'
  end
end
return out
""",
    # KEYS: the key sorted set. ARGV: base, now, min, max (ZRANGEBYLEX bounds), count.
    # Returns {keys walked, last key walked, {key, HGETALL or 'corrupt', ...}}.
    "scan_page": """
local keys = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[3], ARGV[4], 'LIMIT', 0, tonumber(ARGV[5]))
local out = {}
for _, key in ipairs(keys) do
  local rk = base .. 'r:' .. key
  local t = redis.call('TYPE', rk)['ok']
  if t == 'hash' then
    out[#out + 1] = key
    out[#out + 1] = redis.call('HGETALL', rk)
  elseif t ~= 'none' then
    out[#out + 1] = key
    out[#out + 1] = 'corrupt'
  end
end
return {#keys, keys[#keys] or '', out}
""",
    # KEYS: the key sorted set. ARGV: base, now, cursor, pattern ('' for all), count.
    # One ZSCAN step; returns {next cursor, {live keys}}.
    "keys_page": """
local args = {'ZSCAN', KEYS[1], ARGV[3], 'COUNT', tonumber(ARGV[5])}
if ARGV[4] ~= '' then
  args[#args + 1] = 'MATCH'
  args[#args + 1] = ARGV[4]
end
local res = redis.call(unpack(args))
local out = {}
local items = res[2]
for j = 1, #items, 2 do
  local key = items[j]
  local e = tonumber(redis.call('ZSCORE', base .. 'x', key))
  if (e == nil or e > now) and redis.call('EXISTS', base .. 'r:' .. key) == 1 then
    out[#out + 1] = key
  end
end
return {res[1], out}
""",
    # KEYS: the key sorted set. ARGV: base, now. How many live records.
    "count": """
return redis.call('ZCARD', KEYS[1]) - redis.call('ZCOUNT', base .. 'x', '-inf', now)
""",
    # KEYS: the key sorted set. ARGV: base, now, count. Deletes up to `count` records with
    # their entries; returns {live records deleted, records left}.
    "drop_batch": """
local keys = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)
local live = 0
for _, key in ipairs(keys) do
  local cur = load(base .. 'r:' .. key)
  if cur and cur.live then live = live + 1 end
  remove(key, cur or nil)
end
local left = redis.call('ZCARD', KEYS[1])
if left == 0 then redis.call('DEL', base .. 'x', base .. 'xi') end
return {live, left}
""",
    # KEYS: the key sorted set. ARGV: base, now, count. Sweeps up to `count` expired records.
    "purge": """
local removed, walked = sweep(tonumber(ARGV[3]))
return {removed, walked}
""",
}


# Logs. A bucket of a collection's logs (base '<prefix>{<tag>%L<b>}:') holds, for each log
# `key`: the stream l:<key>, whose entries have the ids '<seq>-0' and the fields t (appended
# at, Unix ms) and v (the value's JSON); its member in lk, scored by the last sequence number
# the log handed out (kept after Redis expires the stream by itself); its member in lx,
# scored by its expiry, when it has one. lf, the bucket's floor, is at least every sequence
# number a removed log of the bucket had: a new log starts above it, and above its own
# earlier numbers, which its removal adds to the floor.
_LOG_PRELUDE = r"""
local function lkey(key) return base .. 'l:' .. key end

-- a sequence number as Redis must get it (Lua's own conversion keeps 14 digits)
local function seqstr(n) return string.format('%d', n) end

-- the last sequence number the log `key` handed out (nil: none known)
local function log_last(key)
  local last = tonumber(redis.call('ZSCORE', base .. 'lk', key))
  if last then return last end
  if redis.call('TYPE', lkey(key))['ok'] == 'stream' then  -- lk lost to another client
    local info = redis.call('XINFO', 'STREAM', lkey(key))
    for i = 1, #info, 2 do
      if info[i] == 'last-generated-id' then
        return tonumber(string.match(info[i + 1], '^(%d+)'))
      end
    end
  end
  return nil
end

-- 'none', 'live', 'expired' (still held, past its expiry) or 'corrupt' (another type); and,
-- for a stream, its expiry (nil: none)
local function log_status(key)
  local t = redis.call('TYPE', lkey(key))['ok']
  if t == 'none' then return 'none' end
  if t ~= 'stream' then return 'corrupt' end
  local e = tonumber(redis.call('ZSCORE', base .. 'lx', key))
  if e == nil or e > now then return 'live', e end
  return 'expired', e
end

-- remove the log `key` (whatever of it is left); the floor rises to its last number. The
-- removals come first: under maxmemory Redis refuses only a script's first write, and
-- only one that may allocate (as SET may), so a removal is never refused
local function log_remove(key)
  local last = log_last(key)
  redis.call('UNLINK', lkey(key))  -- a long log is freed off the server's main thread
  redis.call('ZREM', base .. 'lk', key)
  redis.call('ZREM', base .. 'lx', key)
  if last then
    local fk = base .. 'lf'
    local f = tonumber(redis.call('GET', fk))
    if not f or last > f then redis.call('SET', fk, seqstr(last)) end
  end
end

-- remove up to `limit` expired logs of the bucket; how many
local function log_sweep(limit)
  local gone = redis.call('ZRANGEBYSCORE', base .. 'lx', '-inf', now, 'LIMIT', 0, limit)
  for _, key in ipairs(gone) do log_remove(key) end
  return #gone
end

-- append id, appended at, value of each of `entries` (XRANGE's answer) to `out`: a flat
-- answer is parsed by the client in less than half the time a nested one takes
local function flatten(entries, out, from, to, step)
  for i = from, to, step do
    local id, fields = entries[i][1], entries[i][2]
    local t, v = '', ''
    for j = 1, #fields, 2 do
      if fields[j] == 't' then t = fields[j + 1] elseif fields[j] == 'v' then v = fields[j + 1] end
    end
    out[#out + 1] = id
    out[#out + 1] = t
    out[#out + 1] = v
  end
  return out
end
"""

_LOG_BODIES = {
    # KEYS: the log's stream. ARGV: base, now, key, expires ('' never), token, keep, then
    # the values' JSON. Returns {'ok', first sequence number} or {'corrupt'}.
    "log_append": f"""
local lk, key, e, token, keep = KEYS[1], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
-- add the values after `last`, index the log by its new last number; the first number
local function add(last)
  for j = 7, #ARGV do
    redis.call('XADD', lk, seqstr(last + j - 6) .. '-0', 't', ARGV[2], 'v', ARGV[j])
  end
  redis.call('ZADD', base .. 'lk', seqstr(last + #ARGV - 6), key)
  return last + 1
end
local done = recall(token)
if done then return done end
local status, had = log_status(key)
local last
if status == 'live' and had == nil and e == '' then
  -- the steady path: a live log without an expiry that keeps none. XADD is the first write
  -- (so the one Redis refuses under maxmemory, before anything changed), and there is no
  -- expiry to clear
  local first = add(log_last(key) or 0)
  log_sweep({SWEEP_PER_WRITE})
  return remember(token, keep, {{'ok', seqstr(first)}})
end
guard()
if status == 'corrupt' then return remember(token, keep, {{'corrupt'}}) end
if status == 'live' then
  last = log_last(key) or 0
else
  -- a new incarnation starts above the floor, which the removal raised to the old numbers
  log_remove(key)
  last = tonumber(redis.call('GET', base .. 'lf')) or 0
end
local first = add(last)
if e == '' then
  redis.call('ZREM', base .. 'lx', key)
  redis.call('PERSIST', lk)
elseif tonumber(e) <= now then
  log_remove(key)  -- expired on arrival: nothing is kept, and the floor covers its numbers
else
  redis.call('ZADD', base .. 'lx', e, key)
  redis.call('PEXPIREAT', lk, tonumber(e) + GRACE_MS)
end
log_sweep({SWEEP_PER_WRITE})
return remember(token, keep, {{'ok', seqstr(first)}})
""",
    # KEYS: the log's stream. ARGV: base, now, key, count, token, keep. Returns 'ok', then
    # id, appended at, value of each entry popped, oldest first. The first write is a
    # removal (never refused under maxmemory), so the outcome is recorded after it.
    "log_pop": f"""
local lk, key, token, keep = KEYS[1], ARGV[3], ARGV[5], ARGV[6]
local done = recall(token)
if done then return done end
local status = log_status(key)
if status == 'corrupt' then return remember(token, keep, {{'corrupt'}}) end
local out = {{'ok'}}
if status == 'live' then
  local got = redis.call('XREVRANGE', lk, '+', '-', 'COUNT', ARGV[4])
  if #got >= redis.call('XLEN', lk) then
    log_remove(key)
  else
    for _, entry in ipairs(got) do redis.call('XDEL', lk, entry[1]) end
  end
  flatten(got, out, #got, 1, -1)
elseif status == 'expired' then
  log_remove(key)
end
log_sweep({SWEEP_PER_WRITE})
return remember(token, keep, out)
""",
    # KEYS: the log's stream. ARGV: base, now, key, keep_last ('' none), before (an entry
    # id: entries below it go; '' none), token, keep. Returns {'ok', removed}.
    "log_trim": f"""
local lk, key, token, keep = KEYS[1], ARGV[3], ARGV[6], ARGV[7]
local done = recall(token)
if done then return done end
local status = log_status(key)
if status == 'corrupt' then return remember(token, keep, {{'corrupt'}}) end
local removed = 0
if status == 'live' then
  local held = redis.call('XLEN', lk)
  if ARGV[5] ~= '' then redis.call('XTRIM', lk, 'MINID', '=', ARGV[5]) end
  if ARGV[4] ~= '' then redis.call('XTRIM', lk, 'MAXLEN', '=', ARGV[4]) end
  local left = redis.call('XLEN', lk)
  removed = held - left
  if left == 0 then log_remove(key) end
elseif status == 'expired' then
  log_remove(key)
end
log_sweep({SWEEP_PER_WRITE})
return remember(token, keep, {{'ok', removed}})
""",
    # KEYS: the log's stream. ARGV: base, now, key, token, keep. Returns {'ok', 1 or 0}:
    # whether a live log (or something another client wrote there) was deleted.
    "log_delete": f"""
local key, token, keep = ARGV[3], ARGV[4], ARGV[5]
local done = recall(token)
if done then return done end
local status = log_status(key)
local existed = 0
if status == 'live' or status == 'corrupt' then existed = 1 end
if status ~= 'none' or redis.call('ZSCORE', base .. 'lk', key) then log_remove(key) end
log_sweep({SWEEP_PER_WRITE})
return remember(token, keep, {{'ok', existed}})
""",
    # KEYS: the log's stream. ARGV: base, now, key. Returns {'ok', length} or {'corrupt'}.
    "log_length": """
local status = log_status(ARGV[3])
if status == 'corrupt' then return {'corrupt'} end
if status ~= 'live' then return {'ok', 0} end
return {'ok', redis.call('XLEN', KEYS[1])}
""",
    # KEYS: the log's stream. ARGV: base, now, key, first id, last id (inclusive bounds),
    # count ('' all), '1' for descending order. Returns 'ok', then id, appended at, value of
    # each entry, in the order read; or {'corrupt'}.
    "log_range": """
local status = log_status(ARGV[3])
if status == 'corrupt' then return {'corrupt'} end
if status ~= 'live' then return {'ok'} end
local args
if ARGV[7] == '1' then
  args = {'XREVRANGE', KEYS[1], ARGV[5], ARGV[4]}
else
  args = {'XRANGE', KEYS[1], ARGV[4], ARGV[5]}
end
if ARGV[6] ~= '' then
  args[#args + 1] = 'COUNT'
  args[#args + 1] = ARGV[6]
end
local got = redis.call(unpack(args))
return flatten(got, {'ok'}, 1, #got, 1)
""",
    # KEYS: the bucket's lk. ARGV: base, now, cursor, pattern ('' for all), count. One ZSCAN
    # step; returns {next cursor, {keys of live logs}}.
    "log_keys_page": """
local args = {'ZSCAN', KEYS[1], ARGV[3], 'COUNT', tonumber(ARGV[5])}
if ARGV[4] ~= '' then
  args[#args + 1] = 'MATCH'
  args[#args + 1] = ARGV[4]
end
local res = redis.call(unpack(args))
local out = {}
local items = res[2]
for j = 1, #items, 2 do
  local key = items[j]
  local e = tonumber(redis.call('ZSCORE', base .. 'lx', key))
  if (e == nil or e > now) and redis.call('EXISTS', lkey(key)) == 1 then
    out[#out + 1] = key
  end
end
return {res[1], out}
""",
    # KEYS: the bucket's lk. ARGV: base, now. How many live logs.
    "log_count": """
return redis.call('ZCARD', KEYS[1]) - redis.call('ZCOUNT', base .. 'lx', '-inf', now)
""",
    # KEYS: the bucket's lk. ARGV: base, now, count. Deletes up to `count` logs; returns
    # {live logs deleted, logs left}.
    "log_drop_batch": """
local keys = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)
local live = 0
for _, key in ipairs(keys) do
  if log_status(key) == 'live' then live = live + 1 end
  log_remove(key)
end
local left = redis.call('ZCARD', KEYS[1])
if left == 0 then redis.call('DEL', base .. 'lx') end
return {live, left}
""",
    # KEYS: the bucket's lk. ARGV: base, now, count. Removes up to `count` expired logs.
    "log_purge": """
return log_sweep(tonumber(ARGV[3]))
""",
}


class Script:
    """One Lua script: called by SHA1, sent again (``EVAL``) when the server lacks it."""

    __slots__ = ("name", "sha", "source")

    def __init__(self, name: str, body: str, prelude: str = _PRELUDE) -> None:
        self.name = name
        self.source = prelude + body
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()  # Redis names scripts by SHA1

    async def __call__(self, client: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await client.eval(self.source, len(keys), *keys, *args)


#: Every script, by name.
#: Scripts that use none of the prelude's helpers: sent without it, so that the server
#: does not define them on every call (reads that run on every get_many and exists).
_BARE: frozenset[str] = frozenset({"exists", "get_many"})

SCRIPTS: dict[str, Script] = {
    **{
        name: Script(name, body, "" if name in _BARE else _PRELUDE)
        for name, body in _BODIES.items()
    },
    **{name: Script(name, body, _PRELUDE + _LOG_PRELUDE) for name, body in _LOG_BODIES.items()},
}
