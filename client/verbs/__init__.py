"""The client's requests, one module per group of the protocol, each a `Transport` subclass
that `VoiceClient` combines: `rooms` (rooms, seats, moderation, chat, the media offer),
`people` (profiles, follows, friends, blocks), `calls` (one-to-one calls and the calls this
client knows), `matching` (random matching), `props` (voice effects, sounds, music, dice and
cards, in a room or a call).
"""
