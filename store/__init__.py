"""Where state lives: the store interface (base.py), MemoryStore and RedisStore behind it."""
