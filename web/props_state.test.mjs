// The page's props state without a browser (tests/web/test_props_page.py runs it): events
// and states in, the state and the effects out.

import assert from "node:assert/strict";
import { test } from "node:test";

import * as ps from "./props_state.js";

const ME = "ada";

function inRoom(room = {}) {
  const s = ps.propsState(ME);
  ps.catalogue(s, {
    sounds: [{ id: "ding", title: "Ding", seconds: 1.6 }],
    tracks: [{ id: "theme", title: "Theme", seconds: 30 }],
  });
  ps.roomSeen(s, { id: "r1", ...room });
  return s;
}

test("a room's state brings its effects and music; none used yet means none", () => {
  const s = inRoom();
  assert.deepEqual(s.effects, {});
  assert.equal(ps.musicText(s), "No music");
  const later = { id: "r1", effects: { bob: "echo" }, music: { track: "theme", playing: true, volume: 0.25, loop: true } };
  assert.deepEqual(ps.roomSeen(s, later), [{ type: "render" }]);
  assert.equal(ps.effectOf(s, "bob"), "echo");
  assert.equal(ps.musicText(s), "Theme (looping) at 25%");
  assert.deepEqual(ps.roomSeen(s, later), []); // the same object: nothing new
  ps.roomSeen(s, null);
  assert.equal(s.roomId, null);
  assert.equal(ps.musicText(s), "No music");
});

test("props events of our room change the panel and add a line", () => {
  const s = inRoom();
  let fx = ps.applyPropsEvent(s, { type: "voice_effect", room: "r1", user: "bob", effect: "robot" }, () => "Bob");
  assert.deepEqual(fx, [{ type: "render" }, { type: "line", where: "room", text: "Bob: Robot" }]);
  assert.equal(ps.effectOf(s, "bob"), "robot");
  ps.applyPropsEvent(s, { type: "voice_effect", room: "r1", user: "bob", effect: "none" }, () => "Bob");
  assert.equal(ps.effectOf(s, "bob"), "none");

  fx = ps.applyPropsEvent(s, { type: "sound_played", room: "r1", user: ME, sound: "ding" });
  assert.deepEqual(fx, [{ type: "line", where: "room", text: "You played Ding" }]);

  fx = ps.applyPropsEvent(s, { type: "game_event", room: "r1", user: "bob", name: "Bob", game: "dice", result: { values: [3, 5] } });
  assert.equal(fx[1].text, "Bob rolled 3 + 5 = 8");
  fx = ps.applyPropsEvent(s, { type: "game_event", room: "r1", user: ME, name: "Ada", game: "card", result: { deck: "dare", text: "Sing." } });
  assert.equal(fx[1].text, "You drew a dare card: “Sing.”");
  assert.equal(ps.gameText({ game: "card", result: { deck: "icebreaker", text: "Hi?" } }, "Bob"), "Bob drew an icebreaker card: “Hi?”");
  assert.equal(s.games.length, 2);
  assert.equal(s.games[0].game, "card");

  ps.applyPropsEvent(s, { type: "music_state", room: "r1", track: "theme", playing: true, volume: 0.8, loop: false });
  assert.equal(ps.musicText(s), "Theme at 80%");
});

test("another room's or call's events are not ours", () => {
  const s = inRoom();
  assert.deepEqual(ps.applyPropsEvent(s, { type: "game_event", room: "r2", user: "x", game: "dice", result: { values: [1] } }), []);
  assert.deepEqual(ps.applyPropsEvent(s, { type: "sound_played", call: "c9", user: "x", sound: "ding" }), []);
  assert.deepEqual(ps.applyPropsEvent(s, { type: "chat_message", room: "r1", user: "x", text: "hi" }), []);
  assert.equal(s.games.length, 0);
});

test("a call's props are the call's, and go with it", () => {
  const s = ps.propsState(ME);
  const call = { id: "c1", state: "active", effects: { bob: "pitch_up" } };
  ps.callSeen(s, { id: "c1", state: "ringing" });
  assert.equal(s.callId, null);
  ps.callSeen(s, call);
  assert.equal(ps.effectOf(s, "bob", "call"), "pitch_up");
  const fx = ps.applyPropsEvent(s, { type: "game_event", call: "c1", user: "bob", name: "Bob", game: "dice", result: { values: [6] } });
  assert.deepEqual(fx[1], { type: "line", where: "call", text: "Bob rolled 6" });
  ps.myEffect(s, "call", "echo");
  assert.equal(ps.effectOf(s, ME, "call"), "echo");
  ps.callSeen(s, null);
  assert.equal(s.callId, null);
  assert.deepEqual(s.callEffects, {});
  assert.equal(s.games.length, 0);
});

test("who may use what", () => {
  const s = inRoom();
  assert.deepEqual(ps.may(s, { role: "host" }).room, { effect: true, sound: true, music: true, games: true });
  assert.deepEqual(ps.may(s, { role: "admin" }).room, { effect: false, sound: true, music: true, games: true });
  assert.deepEqual(ps.may(s, { role: "audience", seated: true }).room, { effect: true, sound: true, music: false, games: true });
  assert.deepEqual(ps.may(s, { role: "audience" }).room, { effect: false, sound: false, music: false, games: true });
  assert.deepEqual(ps.may(s, { inCall: true }).call, { effect: true, sound: true, music: false, games: true });
});
