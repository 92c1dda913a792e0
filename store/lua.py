"""The store's Lua scripts: each runs as one atomic step in Redis.

Sent by SHA (EVALSHA) once Redis has them; `store/resp.py` falls back to EVAL when Redis
lost its script cache (a restart, SCRIPT FLUSH).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Script:
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


# KEYS: room hash, seated hash, rooms zset, deadlines zset, the host's hosting set, the room's
#       bans set.
# ARGV: room id, expected version ('' = must not exist), new version, blob (the room without
#       its bans; '' unless written), summary, created_at, deadline ('' = none), channel,
#       header, mode ('w' write, 'u' unchanged: check the version and publish the header
#       alone, 'd' delete), host limit (a creation: refused with {'too_many', n} when the host
#       hosts that many rooms; '' = no bound), 'b' when the message carries the blob ('': the
#       header alone, which holds the change), then four counts and their lists in this
#       order: the seated users, the users whose seat in this room is released, the users
#       banned, the users no longer banned.
# The message is "<seq>:" + header [+ blob], seq counting this room's messages (gap
# detection: a command that changes nothing keeps the version but still publishes, without
# the room; store/wire.py says what a message holds).
COMMIT = Script("""
local room_id = ARGV[1]
local mode = ARGV[10]
local current = redis.call('HGET', KEYS[1], 'v')
if ARGV[2] == '' then
  if current then return {'conflict', current} end
  if ARGV[11] ~= '' then
    local hosted = redis.call('SCARD', KEYS[5])
    if hosted >= tonumber(ARGV[11]) then return {'too_many', hosted} end
  end
elseif current ~= ARGV[2] then
  -- The room as it is now: the caller reloads it next, this saves the round trip.
  return {'conflict', current or '', redis.call('HGET', KEYS[1], 'b') or '',
          redis.call('SMEMBERS', KEYS[6])}
end
local seated, released = tonumber(ARGV[13]), tonumber(ARGV[14])
local banned, unbanned = tonumber(ARGV[15]), tonumber(ARGV[16])
local first = 17
if mode ~= 'u' then
  for i = first, first + seated - 1 do
    local holder = redis.call('HGET', KEYS[2], ARGV[i])
    if holder and holder ~= room_id then return {'already_seated', ARGV[i], holder} end
  end
  for i = first + seated, first + seated + released - 1 do
    if redis.call('HGET', KEYS[2], ARGV[i]) == room_id then
      redis.call('HDEL', KEYS[2], ARGV[i])
    end
  end
  for i = first, first + seated - 1 do redis.call('HSET', KEYS[2], ARGV[i], room_id) end
end
local bans = first + seated + released
for i = bans, bans + banned - 1 do redis.call('SADD', KEYS[6], ARGV[i]) end
for i = bans + banned, bans + banned + unbanned - 1 do redis.call('SREM', KEYS[6], ARGV[i]) end
local seq = redis.call('HINCRBY', KEYS[1], 'e', 1)
if mode == 'd' then
  redis.call('DEL', KEYS[1], KEYS[6])
  redis.call('ZREM', KEYS[3], room_id)
  redis.call('ZREM', KEYS[4], room_id)
  redis.call('SREM', KEYS[5], room_id)
elseif mode == 'w' then
  if ARGV[2] == '' then redis.call('SADD', KEYS[5], room_id) end
  redis.call('HSET', KEYS[1], 'v', ARGV[3], 'b', ARGV[4], 's', ARGV[5])
  redis.call('ZADD', KEYS[3], ARGV[6], room_id)
  if ARGV[7] == '' then
    redis.call('ZREM', KEYS[4], room_id)
  else
    redis.call('ZADD', KEYS[4], ARGV[7], room_id)
  end
end
if ARGV[12] == 'b' then
  redis.call('PUBLISH', ARGV[8], seq .. ':' .. ARGV[9] .. ARGV[4])
else
  redis.call('PUBLISH', ARGV[8], seq .. ':' .. ARGV[9])
end
return {'ok'}
""")

# KEYS: room hash, the room's bans set. ARGV: the version the caller holds ('' = none).
# Returns {} when there is no such room, {v} when the caller's copy is current, else
# {v, blob, bans}.
LOAD = Script("""
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return {} end
if v == ARGV[1] then return {v} end
return {v, redis.call('HGET', KEYS[1], 'b'), redis.call('SMEMBERS', KEYS[2])}
""")

# Entries after a cursor (score, member) in newest-first order: equal score with a smaller
# member, then lower scores. KEYS: rooms zset. ARGV: score, member, limit.
PAGE = Script("""
local out = {}
local limit = tonumber(ARGV[3])
local same = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])
for i = #same, 1, -1 do
  if #out >= limit then break end
  if same[i] < ARGV[2] then table.insert(out, same[i]) end
end
if #out < limit then
  local lower = redis.call('ZREVRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '-inf',
                           'LIMIT', 0, limit - #out)
  for _, id in ipairs(lower) do table.insert(out, id) end
end
return out
""")


# Leases (cluster/leases.py). KEYS: lease key. ARGV: expected holder, new holder ('' = none:
# delete), lease ms. Compare-and-set: 1 when it was the expected holder's.
LEASE_SWAP = Script("""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if ARGV[2] == '' then redis.call('DEL', KEYS[1]) return 1 end
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
""")

# KEYS: lease key, the key whose existence the lease needs (the room). ARGV: holder, lease ms.
# 1: renewed; 0: held by another, or the guarded key is gone (then the lease is deleted).
LEASE_RENEW = Script("""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
""")


# Calls (store/calls_redis.py): one call's commit. KEYS: call hash, calling hash, in-call hash,
# call deadlines zset, caller's calls set, callee's calls set. ARGV: call id, expected version
# ('' = a new call), new version, blob ('' = the call ended: remove it), deadline ('' = none),
# caller, callee, caller's slot, callee's slot ('r' ringing out, 'a' in the active call, '-'
# neither), '1' to refuse a callee in another active call (a new call), channel, message.
# Returns {'ok'}, {'conflict'}, {'already_in_call', user} or {'busy', user}; nothing is
# written unless 'ok'.
COMMIT_CALL = Script("""
local id = ARGV[1]
local v = redis.call('HGET', KEYS[1], 'v')
if ARGV[2] == '' then
  if v then return {'conflict'} end
elseif v ~= ARGV[2] then
  return {'conflict'}
end
local users = {ARGV[6], ARGV[7]}
local slots = {ARGV[8], ARGV[9]}
for i = 1, 2 do
  if slots[i] ~= '-' then
    local calling = redis.call('HGET', KEYS[2], users[i])
    local active = redis.call('HGET', KEYS[3], users[i])
    if (calling and calling ~= id) or (active and active ~= id) then
      return {'already_in_call', users[i]}
    end
  end
end
if ARGV[10] == '1' then
  local active = redis.call('HGET', KEYS[3], users[2])
  if active and active ~= id then return {'busy', users[2]} end
end
for i = 1, 2 do
  for _, pair in ipairs({{KEYS[2], 'r'}, {KEYS[3], 'a'}}) do
    if slots[i] == pair[2] then
      redis.call('HSET', pair[1], users[i], id)
    elseif redis.call('HGET', pair[1], users[i]) == id then
      redis.call('HDEL', pair[1], users[i])
    end
  end
end
if ARGV[4] == '' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[4], id)
  redis.call('SREM', KEYS[5], id)
  redis.call('SREM', KEYS[6], id)
else
  redis.call('HSET', KEYS[1], 'v', ARGV[3], 'b', ARGV[4])
  if ARGV[5] == '' then
    redis.call('ZREM', KEYS[4], id)
  else
    redis.call('ZADD', KEYS[4], ARGV[5], id)
  end
  redis.call('SADD', KEYS[5], id)
  redis.call('SADD', KEYS[6], id)
end
redis.call('PUBLISH', ARGV[11], ARGV[12])
return {'ok'}
""")


# Matching (store/match_redis.py). A queue entry is a 16-character stamp, then msgpack; an
# entry is "the one given" when its stamp prefix is.
# One pair, atomically. KEYS: queue hash, queue version, call hash, calling hash, in-call
# hash, a's calls set, b's calls set, a's conns hash, b's conns hash, a's blocking set, b's
# blocking set, a's matched zset, b's matched zset. ARGV: a, b, a's stamp, b's stamp, call id,
# call blob, now, rematch since (paired after it: refused), history since (older
# pairings pruned), history ms, channel, message.
# Returns {'ok'}, or {reason, user}: 'gone' (entry left or replaced), 'offline' (no
# connection anywhere) and 'busy' (ringing out or in a call) drop that user's entry;
# 'blocked' (user blocks the other), 'recent' and 'conflict' (the call id exists) write
# nothing. 'ok' writes the call as COMMIT_CALL would for a new active call, both in-call
# slots, both users out of the queue, the pair into both histories, and publishes.
MATCH_PAIR = Script("""
local users = {ARGV[1], ARGV[2]}
local stamps = {ARGV[3], ARGV[4]}
for i = 1, 2 do
  local v = redis.call('HGET', KEYS[1], users[i])
  if not v or string.sub(v, 1, 16) ~= stamps[i] then return {'gone', users[i]} end
end
for i = 1, 2 do
  local refusal = false
  if redis.call('EXISTS', KEYS[7 + i]) == 0 then
    refusal = 'offline'
  elseif redis.call('HEXISTS', KEYS[4], users[i]) == 1
      or redis.call('HEXISTS', KEYS[5], users[i]) == 1 then
    refusal = 'busy'
  end
  if refusal then
    redis.call('HDEL', KEYS[1], users[i])
    redis.call('INCR', KEYS[2])
    return {refusal, users[i]}
  end
end
if redis.call('SISMEMBER', KEYS[10], users[2]) == 1 then return {'blocked', users[1]} end
if redis.call('SISMEMBER', KEYS[11], users[1]) == 1 then return {'blocked', users[2]} end
local last = redis.call('ZSCORE', KEYS[12], users[2])
if last and tonumber(last) > tonumber(ARGV[8]) then return {'recent', users[1]} end
if redis.call('EXISTS', KEYS[3]) == 1 then return {'conflict', users[1]} end
redis.call('HDEL', KEYS[1], users[1], users[2])
redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[3], 'v', '1', 'b', ARGV[6])
redis.call('HSET', KEYS[5], users[1], ARGV[5], users[2], ARGV[5])
redis.call('SADD', KEYS[6], ARGV[5])
redis.call('SADD', KEYS[7], ARGV[5])
for i = 1, 2 do
  local history = KEYS[11 + i]
  redis.call('ZADD', history, ARGV[7], users[3 - i])
  redis.call('ZREMRANGEBYSCORE', history, '-inf', '(' .. ARGV[9])
  redis.call('PEXPIRE', history, ARGV[10])
end
redis.call('PUBLISH', ARGV[11], ARGV[12])
return {'ok'}
""")

# Entries removed only if still the ones given. KEYS: queue hash, queue version. ARGV: user,
# stamp, user, stamp, ... Returns the users removed.
MATCH_DROP = Script("""
local out = {}
for i = 1, #ARGV, 2 do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v and string.sub(v, 1, 16) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    table.insert(out, ARGV[i])
  end
end
if #out > 0 then redis.call('INCR', KEYS[2]) end
return out
""")

# The pairing lead. KEYS: lead key. ARGV: node, lease ms. 1: the node holds it (taken or
# renewed); 0: another node does.
MATCH_LEAD = Script("""
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
""")

# The match queue's other steps, each one command through the store's pipeline. KEYS: queue
# hash, queue version. ARGV: user, entry. The entry in, the version bumped.
MATCH_JOIN = Script("""
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('INCR', KEYS[2])
return 1
""")

# KEYS: queue hash, queue version. ARGV: user. 1 if they were waiting (then the version grows).
MATCH_LEAVE = Script("""
local n = redis.call('HDEL', KEYS[1], ARGV[1])
if n > 0 then redis.call('INCR', KEYS[2]) end
return n
""")

# Reads for the pairing round, one step each whatever the number of users. KEYS: one key per
# user; ARGV as said. Each returns one reply per key, in KEYS order.
MATCH_HISTORIES = Script("""
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call('ZRANGEBYSCORE', key, ARGV[1], '+inf', 'WITHSCORES')
end
return out
""")
MATCH_SETS = Script("""
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('SMEMBERS', key) end
return out
""")
MATCH_EXIST = Script("""
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('EXISTS', key) end
return out
""")
# KEYS: calling hash, in-call hash. ARGV: users. The users ringing out or in a call.
MATCH_BUSY = Script("""
local out = {}
for _, user in ipairs(ARGV) do
  if redis.call('HEXISTS', KEYS[1], user) == 1 or redis.call('HEXISTS', KEYS[2], user) == 1 then
    table.insert(out, user)
  end
end
return out
""")

# The pairing round's two reads. The queue if it changed: KEYS: queue hash, queue version.
# ARGV: the version the caller knows. {version} when unchanged, else {version, [user, entry,
# ...]}.
MATCH_SNAPSHOT = Script("""
local v = redis.call('GET', KEYS[2]) or '0'
if v == ARGV[1] then return {v} end
return {v, redis.call('HGETALL', KEYS[1])}
""")

# The rest: KEYS: calling hash, in-call hash, then the n fresh users' matched zsets, then their
# blocking sets. ARGV: since, n, then every waiting user. Returns {the busy users, [each fresh
# user's pairings since: partner, score, ...], [each fresh user's blocked users]}.
MATCH_FACTS = Script("""
local busy = {}
for i = 3, #ARGV do
  local user = ARGV[i]
  if redis.call('HEXISTS', KEYS[1], user) == 1 or redis.call('HEXISTS', KEYS[2], user) == 1 then
    table.insert(busy, user)
  end
end
local n = tonumber(ARGV[2])
local recent, blocks = {}, {}
for i = 1, n do
  recent[i] = redis.call('ZRANGEBYSCORE', KEYS[2 + i], ARGV[1], '+inf', 'WITHSCORES')
  blocks[i] = redis.call('SMEMBERS', KEYS[2 + n + i])
end
return {busy, recent, blocks}
""")

# A user's last connection closed: out of the queue unless a connection of theirs is there
# (one arriving on another node meanwhile). KEYS: queue hash, queue version, the user's conns
# hash. ARGV: user. 1 if they left.
MATCH_LEAVE_IF_ABSENT = Script("""
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local n = redis.call('HDEL', KEYS[1], ARGV[1])
if n > 0 then redis.call('INCR', KEYS[2]) end
return n
""")
