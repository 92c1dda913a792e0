"""Small read scripts for the people and call stores' hot paths.

`RedisStore.script` sends scripts through the store's own RESP pipeline (store/resp.py):
~20 µs of Python a command instead of redis-py's ~150, and every command issued in one turn
of the event loop leaves in one write, so the reads a `call` gathers at once cost one round
trip. Replies are RESP as Redis sends them (a hash is a flat [field, value, ...] list).
"""

from __future__ import annotations

from store.lua import Script

HGETALL = Script("return redis.call('HGETALL', KEYS[1])")
HVALS = Script("return redis.call('HVALS', KEYS[1])")
# A versioned record: {v, b} (both nil when there is none).
VERSIONED = Script("return redis.call('HMGET', KEYS[1], 'v', 'b')")
# A user's live calls in one step: KEYS: the user's calls set; ARGV: the call key prefix.
# Returns [v, b, v, b, ...]. (It reads call keys it derives itself: one Redis, as every
# other script here; a Redis Cluster would need them hash-tagged with the user.)
CALLS_OF = Script("""
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local vb = redis.call('HMGET', ARGV[1] .. id, 'v', 'b')
  if vb[2] then
    table.insert(out, vb[1])
    table.insert(out, vb[2])
  end
end
return out
""")

# One field of a hash, one string, one member's score (the match store's reads).
HGET = Script("return redis.call('HGET', KEYS[1], ARGV[1])")
GET = Script("return redis.call('GET', KEYS[1])")
ZSCORE = Script("return redis.call('ZSCORE', KEYS[1], ARGV[1])")
