"""The people store's and presence's writes as scripts (one atomic step each, sent through
the store's RESP pipeline like store/reads.py's reads)."""

from __future__ import annotations

from store.lua import Script

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
