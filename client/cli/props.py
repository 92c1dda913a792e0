"""Props typed into `host` and `join` (docs/protocol.md "Props"): `dice`, `card`, `sound`,
`effect`, `music`. What they cause comes back as events, which every member sees the same
(client/cli/output.py tells them: `Ada rolled 3 + 5 = 8`)."""

from __future__ import annotations

from typing import Any

from client.cli.session import RoomSession
from client.connection import Reply
from client.verbs.props import DECKS, EFFECTS


def props_commands(session: RoomSession) -> None:
    """Dice and cards for everyone; sounds and effects as the server allows (it says
    `forbidden` otherwise); music for the host and admins."""
    c, room = session.client, session.room
    add = session.add_command
    add("dice", "dice [1-5]", lambda a: c.roll_dice(room=room, count=_count(a)))
    add("card", f"card {'|'.join(DECKS)}", lambda a: c.draw_card(_one_of(a, DECKS), room=room))
    add("sound", "sound [ID] (no ID: the list)",
        lambda a: c.play_sound(a[0], room=room) if a else c.list_sounds(),
        show=show_sounds)
    add("effect", f"effect {'|'.join(EFFECTS)} (your voice; host or seated)",
        lambda a: c.set_voice_effect(_one_of(a, EFFECTS), room=room))
    add("music", "music [list | play TRACK [loop] | stop | volume 0-1]",
        lambda a: music(session, a), show=show_tracks)


def music(session: RoomSession, words: list[str]) -> Any:
    c, room = session.client, session.room
    if not words or words[0] == "list":
        return c.list_music()
    verb, rest = words[0], words[1:]
    if verb == "play" and rest and rest[1:] in ([], ["loop"]):
        return c.play_music(room, rest[0], loop=rest[1:] == ["loop"])
    if verb == "stop" and not rest:
        return c.stop_music(room)
    if verb == "volume" and len(rest) == 1:
        return c.set_music_volume(room, float(rest[0]))
    raise ValueError(words)


def show_sounds(reply: Reply) -> list[str]:
    sounds = reply.get("sounds")
    if sounds is None:
        return []  # a sound played: its event says so, to everyone
    return [f"{len(sounds)} sounds (type `sound ID`):",
            *(f"  {s.get('id')}: {s.get('title')}, {s.get('seconds')} s" for s in sounds)]


def show_tracks(reply: Reply) -> list[str]:
    tracks = reply.get("tracks")
    if tracks is None:
        return []  # music changed: `music_state` tells everyone
    if not tracks:
        return ["no music on this server (it takes a --music folder)"]
    return [f"{len(tracks)} tracks (type `music play ID [loop]`):",
            *(f"  {t.get('id')}: {t.get('title')}, {t.get('seconds')} s" for t in tracks)]


def _count(words: list[str]) -> int | None:
    return int(words[0]) if words else None


def _one_of(words: list[str], choices: tuple[str, ...]) -> str:
    if len(words) != 1 or words[0] not in choices:
        raise ValueError(words)
    return words[0]
