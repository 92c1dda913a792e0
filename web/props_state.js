// The page's props state, pure (docs/protocol.md "Props"): the server's sounds and music, the
// voice effects and the music of the room we are in, the effects of our call, the dice and
// cards seen lately. Events in, state and effects out; no DOM, no socket, no clock, so it
// runs (and is tested, web/props_state.test.mjs) under node as well as in the page. props.js
// carries the effects out.

export const EFFECTS = ["none", "pitch_up", "pitch_down", "robot", "echo"];
export const EFFECT_NAMES = {
  none: "No effect",
  pitch_up: "Higher voice",
  pitch_down: "Lower voice",
  robot: "Robot",
  echo: "Echo",
};
export const DECKS = ["truth", "dare", "icebreaker"];
export const DECK_NAMES = { truth: "Truth", dare: "Dare", icebreaker: "Icebreaker" };
export const DICE_MAX = 5;
// How many dice rolls and cards the panel keeps (newest first).
export const GAMES_KEPT = 5;

const NO_MUSIC = { track: null, playing: false, volume: 0.5, loop: false };

/** The props part of the page's state; `me` is the signed-in user id. */
export function propsState(me = null) {
  return {
    me,
    sounds: [], // [{id, title, seconds}] (list_sounds)
    tracks: [], // [{id, title, seconds}] (list_music)
    roomId: null,
    roomSeen: null, // the RoomState object our room's props were last read from
    effects: {}, // the room's: user -> effect (none left out)
    music: { ...NO_MUSIC },
    callId: null,
    callEffects: {}, // our active call's: user -> effect
    games: [], // [{where, user, name, game, result}], newest first
  };
}

// ---------------------------------------------------------------- reading the state

/** What the user may do where they are (the server checks it again). */
export function may(s, { role = null, seated = false, inCall = false } = {}) {
  const host = role === "host";
  const moderator = host || role === "admin";
  return {
    room: {
      effect: host || seated,
      sound: moderator || seated,
      music: moderator,
      games: s.roomId !== null,
    },
    call: { effect: inCall, sound: inCall, music: false, games: inCall },
  };
}

export function effectOf(s, user, where = "room") {
  const effects = where === "call" ? s.callEffects : s.effects;
  return effects[user] || "none";
}

export function titleOf(list, id) {
  const found = list.find((item) => item.id === id);
  return found ? found.title : id;
}

/** "Higher voice", ... */
export function effectName(effect) {
  return EFFECT_NAMES[effect] || effect;
}

/** One line for a dice roll or a card: "Ann rolled 3 + 5 = 8", "Ann drew a dare: …". */
export function gameText(game, who) {
  if (game.game === "dice") {
    const values = (game.result && game.result.values) || [];
    const sum = values.reduce((a, b) => a + b, 0);
    return values.length > 1 ? `${who} rolled ${values.join(" + ")} = ${sum}` : `${who} rolled ${values[0]}`;
  }
  const card = game.result || {};
  const deck = String(DECK_NAMES[card.deck] || card.deck || "").toLowerCase();
  const article = /^[aeiou]/.test(deck) ? "an" : "a";
  return `${who} drew ${article} ${deck} card: “${card.text}”`;
}

/** "Theme (looping) at 50%", or "No music". */
export function musicText(s) {
  const m = s.music;
  if (!m.playing || !m.track) return "No music";
  return `${titleOf(s.tracks, m.track)}${m.loop ? " (looping)" : ""} at ${Math.round(m.volume * 100)}%`;
}

// ---------------------------------------------------------------- changes

export function signedIn(s, me) {
  Object.assign(s, propsState(me));
}

export function catalogue(s, { sounds, tracks }) {
  if (Array.isArray(sounds)) s.sounds = sounds;
  if (Array.isArray(tracks)) s.tracks = tracks;
  return [{ type: "render" }];
}

/** The room's state as the room part of the page holds it now (a RoomState, or null). A
 * newer RoomState object brings the room's effects and music (absent: none used yet). */
export function roomSeen(s, room) {
  if (!room) {
    if (s.roomId === null) return [];
    s.roomId = null;
    s.roomSeen = null;
    s.effects = {};
    s.music = { ...NO_MUSIC };
    s.games = s.games.filter((g) => g.where !== "room");
    return [{ type: "render" }];
  }
  if (room === s.roomSeen) return [];
  if (room.id !== s.roomId) s.games = s.games.filter((g) => g.where !== "room");
  s.roomId = room.id;
  s.roomSeen = room;
  s.effects = { ...(room.effects || {}) };
  s.music = { ...NO_MUSIC, ...(room.music || {}) };
  return [{ type: "render" }];
}

/** Our call as the call part of the page holds it (an active CallState, or null). */
export function callSeen(s, call) {
  const id = call && call.state === "active" ? call.id : null;
  if (id === s.callId) return [];
  s.callId = id;
  s.callEffects = id ? { ...(call.effects || {}) } : {};
  s.games = s.games.filter((g) => g.where !== "call");
  return [{ type: "render" }];
}

/** A server event; props events of other rooms and calls are not ours. `nameOf(user)` gives
 * a display name ("You" for us). */
export function applyPropsEvent(s, ev, nameOf = (user) => user) {
  const where = ev.call !== undefined ? "call" : "room";
  if (where === "room" && (ev.room === undefined || ev.room !== s.roomId)) return [];
  if (where === "call" && ev.call !== s.callId) return [];
  const who = ev.user === s.me ? "You" : ev.name || nameOf(ev.user);
  switch (ev.type) {
    case "voice_effect": {
      const effects = where === "call" ? s.callEffects : s.effects;
      if (ev.effect === "none") delete effects[ev.user];
      else effects[ev.user] = ev.effect;
      if (ev.user === s.me) return [{ type: "render" }];
      const text = ev.effect === "none" ? `${who} took their voice effect off` : `${who}: ${effectName(ev.effect)}`;
      return [{ type: "render" }, { type: "line", where, text }];
    }
    case "sound_played":
      return [{ type: "line", where, text: `${who} played ${titleOf(s.sounds, ev.sound)}` }];
    case "music_state": {
      s.music = { track: ev.track ?? null, playing: Boolean(ev.playing), volume: Number(ev.volume), loop: Boolean(ev.loop) };
      return [{ type: "render" }];
    }
    case "game_event": {
      const game = { where, user: ev.user, name: ev.name, game: ev.game, result: ev.result };
      s.games = [game, ...s.games].slice(0, GAMES_KEPT);
      return [{ type: "render" }, { type: "line", where, text: gameText(game, who) }];
    }
    default:
      return [];
  }
}

/** Our own effect, as the reply confirmed it (the event follows; it says the same). */
export function myEffect(s, where, effect) {
  const effects = where === "call" ? s.callEffects : s.effects;
  if (effect === "none") delete effects[s.me];
  else effects[s.me] = effect;
  return [{ type: "render" }];
}
