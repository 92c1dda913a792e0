"""A room's props on its media owner: speakers' voice effects, sounds and music in the mix.

One `PropsMix` per room session (media.session.RoomMixSession.props). It follows the room's
props state (`rooms.propstate.RoomProps`, handed over by the engine with every room change)
and plays the sounds the delivery tells it of. Per tick the session calls

- `before_mix(frames, heard)`: each heard speaker's frame through their effect (and, after
  they fall quiet, silence for the effect's tail, so an echo is not cut), then the sound and
  music frames added under keys no user id can take;
- `after_mix(levels)`: the speakers' levels alone (for speaking, talkers and ducking).

Sounds and music are in the full mix and in every talker's mix-minus: everyone hears them,
whoever played them. A voice effect acts on the speaker's frame before mixing, and a
talker's mix-minus takes out that very frame: nobody hears their own voice, effect or not.
Music decodes off the event loop; a track that ran out (not looping) or whose file went away
is reported through `on_music_ended(room_id, play)` (the server stops the room's music).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np

from audio.constants import FRAME_SAMPLES
from audio.effects import VoiceEffect, make_effect
from audio.mixer import Pcm
from audio.overlay import MAX_INPUTS, Music, Overlay
from calls.model import CallState
from media.call_media import CallMedia
from media.catalogue import Catalogue, CatalogueError
from rooms.propstate import NO_EFFECT, RoomProps

log = logging.getLogger(__name__)

# Mixer keys of the sound and music inputs: user ids are printable, these are not.
OVERLAY_KEYS = tuple(f"\x00prop{i}" for i in range(MAX_INPUTS))
# How often a playing track's file is looked for (a removed file stops the music).
WATCH_TICKS = 50  # a second

MusicEnded = Callable[[str, int], None]

_SILENCE = np.zeros(FRAME_SAMPLES, dtype=np.int16)
_SILENCE.setflags(write=False)


@dataclass(slots=True)
class EffectCost:
    """CPU time (the event loop's thread) spent in one effect's `process`, summed over the
    frames it made."""

    frames: int = 0
    seconds: float = 0.0

    @property
    def per_frame_us(self) -> float:
        return 1e6 * self.seconds / self.frames if self.frames else 0.0


@dataclass(slots=True)
class _Voice:
    name: str
    effect: VoiceEffect
    quiet: int  # samples of silence fed since the speaker's last frame


class PropsMix:
    def __init__(self, room_id: str, catalogue: Catalogue | None = None,
                 on_music_ended: MusicEnded | None = None) -> None:
        self.room_id = room_id
        self.catalogue = catalogue
        self.on_music_ended = on_music_ended
        self.overlay = Overlay()
        self.voices: dict[str, _Voice] = {}
        self.costs: dict[str, EffectCost] = {}
        self._play: int | None = None  # the music play being played (rooms.propstate.Music)
        # The last play that ended here: a room change carrying it (sent before the server
        # stopped the music) must not start it again.
        self._finished: int | None = None
        self._track: str | None = None
        self._volume = 0.0
        self._music: Music | None = None  # that play's player, once decoded
        self._task: asyncio.Task[None] | None = None
        self._ticks = 0
        self._keys_used = 0
        self.sounds_played = 0

    # --- following the room ------------------------------------------------------------------

    def follow(self, props: RoomProps) -> None:
        for user, name in props.effects.items():
            voice = self.voices.get(user)
            if voice is None or voice.name != name:
                effect = make_effect(name)
                self.voices[user] = _Voice(name, effect, quiet=effect.tail)
        for user in [u for u in self.voices if u not in props.effects]:
            del self.voices[user]
        music = props.music
        self._volume = music.volume
        if music.track is None:
            self._stop_music()
        elif music.play != self._play and music.play != self._finished:
            self._start_music(music.play, music.track, music.loop)
        elif self._music is not None:
            self._music.set_volume(music.volume)

    def play_sound(self, sound_id: str) -> bool:
        sound = self.catalogue.sounds.get(sound_id) if self.catalogue is not None else None
        if sound is None:
            return False
        self.overlay.play_sound(sound.samples)
        self.sounds_played += 1
        return True

    def close(self) -> None:
        self._stop_music()

    # --- music -------------------------------------------------------------------------------

    def _start_music(self, play: int, track: str, loop: bool) -> None:
        self._stop_music()
        self._play, self._track = play, track
        self._task = asyncio.ensure_future(self._load(play, track, loop))
        self._task.set_name(f"music-{self.room_id}")

    def _stop_music(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
        self.overlay.stop_music()
        self._music = None
        self._play = self._track = None

    async def _load(self, play: int, track: str, loop: bool) -> None:
        try:
            if self.catalogue is None:
                raise CatalogueError("this server has no music")
            samples = await asyncio.get_running_loop().run_in_executor(
                None, self.catalogue.decode_track, track)
        except CatalogueError as exc:
            log.warning("room %s: music %s stops: %s", self.room_id, track, exc)
            self._ended(play)
            return
        if self._play != play:
            return  # stopped or replaced while it decoded
        self._music = Music(samples, loop=loop, volume=self._volume)
        self.overlay.play_music(self._music)

    def _ended(self, play: int) -> None:
        self._finished = play
        if self._play == play:
            self._stop_music()
        if self.on_music_ended is not None:
            try:
                self.on_music_ended(self.room_id, play)
            except Exception:
                log.exception("room %s: on_music_ended failed", self.room_id)

    def _watch(self) -> None:
        """Once a second: a track that ran out, or whose file is gone, ends its play."""
        music, play, track = self._music, self._play, self._track
        if music is None or play is None or track is None:
            return
        if music.ran_out:
            self._ended(play)
        elif self._ticks % WATCH_TICKS == 0 and self.catalogue is not None \
                and not self.catalogue.track_present(track):
            log.warning("room %s: music %s stops: its file is gone", self.room_id, track)
            self._ended(play)

    # --- the tick ----------------------------------------------------------------------------

    def before_mix(self, frames: dict[str, Pcm], heard: Collection[str]) -> None:
        self._ticks += 1
        for user, voice in self.voices.items():
            if user not in heard:
                continue
            pcm = frames.get(user)
            if pcm is None:
                if voice.quiet >= voice.effect.tail:
                    continue
                voice.quiet += FRAME_SAMPLES
                pcm = _SILENCE
            else:
                voice.quiet = 0
            started = time.thread_time_ns()  # CPU, not wall: other processes do not count
            frames[user] = voice.effect.process(pcm)
            cost = self.costs.get(voice.name)
            if cost is None:
                cost = self.costs[voice.name] = EffectCost()
            cost.frames += 1
            cost.seconds += (time.thread_time_ns() - started) / 1e9
        if self.overlay.idle:
            self._keys_used = 0
            return
        extra = self.overlay.frames()
        for key, frame in zip(OVERLAY_KEYS, extra, strict=False):  # extra <= MAX_INPUTS
            frames[key] = frame
        self._keys_used = len(extra)
        self._watch()

    def after_mix(self, levels: dict[str, float]) -> dict[str, float]:
        """The speakers' levels (the sound and music inputs left out); ducking follows them."""
        if self._keys_used:
            levels = {k: v for k, v in levels.items() if not k.startswith("\x00")}
        self.overlay.update_voices(levels)
        return levels


# --- calls ------------------------------------------------------------------------------------
# A call's media (media/call_media.py) takes a voice transform per party and mix-ins per
# listener; either one takes that direction off forwarding onto its decoded path. Music is
# never mixed into a call.


def follow_call(media: CallMedia, call: CallState) -> None:
    """Give each party the voice effect the call's state names (a fresh effect stream when it
    changes; none: the direction goes back to forwarding once nothing else is mixed in)."""
    for user in media.users:
        wanted = call.effect_of(user)
        decoded = media.audio[user].decoded
        current = decoded.transform if decoded is not None else None
        if getattr(current, "name", NO_EFFECT) != wanted:
            media.set_voice(user, None if wanted == NO_EFFECT else make_effect(wanted))


class SoundFeed:
    """One listener's reading of a sound (a call's MixIn): the next frame until it ends."""

    def __init__(self, samples: Pcm) -> None:
        self._samples = samples
        self._pos = 0

    def read(self) -> Pcm | None:
        chunk = self._samples[self._pos : self._pos + FRAME_SAMPLES]
        if len(chunk) == 0:
            return None
        self._pos += FRAME_SAMPLES
        if len(chunk) < FRAME_SAMPLES:
            chunk = np.concatenate((chunk, np.zeros(FRAME_SAMPLES - len(chunk), np.int16)))
        return chunk


def play_call_sound(media: CallMedia, samples: Pcm) -> None:
    """Both parties hear the sound once, whoever played it."""
    for user in media.users:
        media.mix_in(user, SoundFeed(samples))
