"""The people store's and presence's scripts (one atomic step each, sent through the store's
RESP pipeline like store/reads.py's reads).

The follow indexes (`following`, `followers`) are sorted sets, every score 0, so that Redis
keeps them in user id order (byte order; user ids are ASCII, so it is Python's order too) and
a page is a ZRANGEBYLEX from the cursor. Stores written before were plain sets under the same
names: every script that touches a follow index first turns an old set into the sorted set
(`_ZSET`), once per key, inside the same atomic step, so no reader ever sees a half
conversion. A million-member set converts in about 3.6 s (measured), once, and Redis serves
nothing else meanwhile: a store with such sets may convert them ahead with a page request
per star at a quiet hour.
"""

from __future__ import annotations

from store.lua import Script

# Lua: turn KEYS-named follow index `key` into a sorted set if it is still an old plain set.
# ZADD takes at most ~8000 arguments through unpack: 1000 members per call.
_ZSET = """
local function zset(key)
  if redis.call('TYPE', key)['ok'] ~= 'set' then return end
  local members = redis.call('SMEMBERS', key)
  redis.call('DEL', key)
  for i = 1, #members, 1000 do
    local args = {}
    for j = i, math.min(i + 999, #members) do
      args[#args + 1] = 0
      args[#args + 1] = members[j]
    end
    redis.call('ZADD', key, unpack(args))
  end
end
"""

# One pair's change (store/people_redis.py). KEYS: the pair hash, then the per-user indexes
# the change touches. ARGV: expected version ('0' = the pair was never stored), the new blob,
# then per index key one op and its member, in KEYS order: 'z+' / 'z-' add to / remove from a
# follow index (a sorted set), '+' / '-' the blocking set. Returns 1, or 0 when the pair
# changed since it was read (the caller reads and retries).
CHANGE_PAIR = Script(_ZSET + """
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', v + 1, 'b', ARGV[2])
for i = 2, #KEYS do
  local op, member = ARGV[2 * i - 1], ARGV[2 * i]
  if op == 'z+' then
    zset(KEYS[i])
    redis.call('ZADD', KEYS[i], 0, member)
  elseif op == 'z-' then
    zset(KEYS[i])
    redis.call('ZREM', KEYS[i], member)
  elseif op == '+' then redis.call('SADD', KEYS[i], member)
  else redis.call('SREM', KEYS[i], member) end
end
return 1
""")

# One chunk of a follow list's candidates (store/people_redis.py `follow_page`). KEYS: the
# user's following and followers indexes in the app, their blocking set. ARGV: the side to
# walk ('following', 'followers', or 'smaller': the one with fewer members, so a friends page
# of a user with a million followers and a few hundred follows walks the follows), the id to
# start after ('' = the start), how many ids to read. Returns {side walked, '1' when the walk
# reached the side's end else '0', then per id read: id, 1/0 in the other index, 1/0
# blocked}. O(log n + count).
FOLLOW_CHUNK = Script(_ZSET + """
zset(KEYS[1])
zset(KEYS[2])
local side = ARGV[1]
if side == 'smaller' then
  side = 'following'
  if redis.call('ZCARD', KEYS[2]) < redis.call('ZCARD', KEYS[1]) then side = 'followers' end
end
local walked, other = KEYS[1], KEYS[2]
if side == 'followers' then walked, other = KEYS[2], KEYS[1] end
local start = '-'
if ARGV[2] ~= '' then start = '(' .. ARGV[2] end
local count = tonumber(ARGV[3])
local ids = redis.call('ZRANGEBYLEX', walked, start, '+', 'LIMIT', 0, count)
local out = {side, #ids < count and '1' or '0'}
for _, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('ZSCORE', other, id) and 1 or 0
  out[#out + 1] = redis.call('SISMEMBER', KEYS[3], id)
end
return out
""")

# The whole of both follow indexes of a user in an app (tests and tools; never a request's
# path). KEYS: following, followers. Returns {following ids, followers ids}.
WHOLE_FOLLOWS = Script(_ZSET + """
zset(KEYS[1])
zset(KEYS[2])
return {redis.call('ZRANGE', KEYS[1], 0, -1), redis.call('ZRANGE', KEYS[2], 0, -1)}
""")

# KEYS: the profile hash. ARGV: '1' when the profile must exist already (no name given),
# then field, value pairs. Returns the profile after, flat ([] when it had to exist and did
# not: nothing written).
UPDATE_PROFILE = Script("""
if ARGV[1] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then return {} end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return redis.call('HGETALL', KEYS[1])
""")

# KEYS: the user's connections hash, the node's connections set. ARGV: conn id, app, entry.
CONNECT = Script("""
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return 1
""")

# KEYS: as CONNECT. ARGV: conn id, entry. Returns how many connections the user has left.
DISCONNECT = Script("""
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
return redis.call('HLEN', KEYS[1])
""")
