"""The client's requests, one module per group of the protocol, each a `Transport` subclass
that `VoiceClient` combines: `rooms` (rooms, seats, moderation, chat, the media offer),
`people` (profiles, follows, friends, blocks), `calls` (one-to-one calls and the calls this
client knows). Matching and props get modules of their own here, the same way.
"""
