// The page's room state without a browser: `node --test web/` (tests/web/test_state_module.py
// runs it). Events go in, the state and the effects come out.

import assert from "node:assert/strict";
import { test } from "node:test";

import * as state from "./state.js";

const ME = "ada";

function room(overrides = {}) {
  return {
    id: "r1",
    title: "Evening talk",
    host: { user: "host", name: "Host", self_muted: false },
    admins: [],
    mode: "live",
    seat_mode: "apply",
    audience_count: 1,
    seats: [0, 1, 2].map((index) => ({ index, user: null, name: null })),
    queue: [],
    ...overrides,
  };
}

function inRoom(overrides = {}, role = undefined) {
  const s = state.roomState({ user: ME, name: "Ada", token: null });
  state.enterRoom(s, room(overrides), role);
  return s;
}

const types = (effects) => effects.map((e) => e.type);
const seat = (index, user = null) => ({ index, user, name: user && user.toUpperCase() });

test("entering a room learns its members and our role", () => {
  const s = inRoom({ admins: ["bob"], queue: [{ user: "cy", name: "Cy" }] });
  assert.equal(s.roomId, "r1");
  assert.equal(s.role, "audience");
  assert.deepEqual([...s.members.keys()].sort(), ["bob", "cy", "host"]);
  assert.equal(state.nameOf(s, "host"), "Host");
  assert.equal(state.nameOf(s, ME), "You");
  assert.equal(state.nameOf(s, null), "Someone");
  assert.equal(state.isModerator(s), false);
  assert.equal(state.roleIn(s, room({ host: { user: ME } })), "host");
});

test("events of another room change nothing", () => {
  const s = inRoom();
  assert.deepEqual(state.applyEvent(s, { type: "audience_changed", room: "other", count: 9 }), []);
  assert.equal(s.room.audience_count, 1);
  assert.deepEqual(state.applyEvent(state.roomState(), { type: "audience_changed", room: "r1" }), []);
});

test("a mic request joins the queue; a position that does not match re-reads the room", () => {
  const s = inRoom();
  let effects = state.applyEvent(s, { type: "mic_requested", room: "r1", user: "bob", name: "Bob", position: 1 });
  assert.deepEqual(types(effects), ["render"]);
  assert.deepEqual(s.room.queue.map((q) => q.user), ["bob"]);
  effects = state.applyEvent(s, { type: "mic_requested", room: "r1", user: "cy", name: "Cy", position: 5 });
  assert.deepEqual(types(effects), ["resync", "render"]);
  state.applyEvent(s, { type: "mic_request_cancelled", room: "r1", user: "bob" });
  assert.deepEqual(s.room.queue.map((q) => q.user), ["cy"]);
});

test("our seat: taken, then lost, says we are back in the audience", () => {
  const s = inRoom();
  s.myRequest = { position: 1 };
  assert.equal(state.isSpeaker(s), false);
  let effects = state.applyEvent(s, { type: "seat_changed", room: "r1", seat: seat(1, ME) });
  assert.deepEqual(types(effects), ["render", "sync_media"]);
  assert.equal(state.mySeat(s).index, 1);
  assert.equal(s.myRequest, null);
  assert.equal(state.isSpeaker(s), true);
  effects = state.applyEvent(s, { type: "seat_changed", room: "r1", seat: seat(1) });
  assert.deepEqual(types(effects), ["notify", "render", "sync_media"]);
  assert.equal(effects[0].text, "You are back in the audience.");
  assert.equal(state.isSpeaker(s), false);
});

test("leaving our seat ourselves, or switching seats, is no trip back to the audience", () => {
  const s = inRoom({ seats: [seat(0, ME), seat(1), seat(2)] });
  s.movingTo = 2;
  let effects = state.applyEvent(s, { type: "seat_changed", room: "r1", seat: seat(0) });
  assert.deepEqual(types(effects), ["render"]);
  effects = state.applyEvent(s, { type: "seat_changed", room: "r1", seat: seat(2, ME) });
  assert.equal(s.movingTo, null);
  assert.deepEqual(types(effects), ["render", "sync_media"]);
  s.leavingSeat = true;
  effects = state.applyEvent(s, { type: "seat_changed", room: "r1", seat: seat(2) });
  assert.deepEqual(types(effects), ["render", "sync_media"]);
  assert.equal(s.leavingSeat, false);
});

test("becoming an admin re-reads the room (admins see the queue)", () => {
  const s = inRoom();
  const effects = state.applyEvent(s, { type: "role_changed", room: "r1", user: ME, role: "admin" });
  assert.deepEqual(types(effects), ["notify", "resync", "render"]);
  assert.equal(s.role, "admin");
  assert.deepEqual(s.room.admins, [ME]);
  assert.equal(state.isModerator(s), true);
});

test("a mode change with our seat gone, an invitation, speaking levels, chat", () => {
  const s = inRoom({ seats: [seat(0, ME)] });
  let effects = state.applyEvent(s, { type: "mode_changed", room: "r1", mode: "chatroom", auto: true, seats: [seat(0), seat(1)] });
  assert.deepEqual(effects.map((e) => e.text).filter(Boolean), [
    "Lots of hands up: the room is now a chatroom.",
    "You are back in the audience.",
  ]);
  effects = state.applyEvent(s, { type: "seat_invited", room: "r1", seat: 1, by: "host" });
  assert.deepEqual(s.invite, { seat: 1, by: "host" });
  assert.equal(effects[0].text, "Host invites you to seat 2.");
  assert.deepEqual(types(state.applyEvent(s, { type: "speaking", room: "r1", levels: { host: "0.5" } })), ["speaking"]);
  assert.equal(s.levels.get("host"), 0.5);
  effects = state.applyEvent(s, { type: "chat_message", room: "r1", user: ME, text: "hi" });
  assert.deepEqual(effects, [{ type: "chat", message: { type: "chat_message", room: "r1", user: ME, text: "hi" }, mine: true }]);
});

test("kicked, banned, closed: the page leaves with the right words", () => {
  const s = inRoom();
  assert.deepEqual(state.applyEvent(s, { type: "kicked", room: "r1", reason: "banned" }), [
    { type: "leave", text: "You were banned from the room.", kind: "error" },
  ]);
  assert.equal(state.applyEvent(s, { type: "room_closed", room: "r1", reason: "host_left" })[0].text,
    "The host left, so the room has ended.");
  assert.equal(state.applyEvent(s, { type: "room_closed", room: "r1", reason: "idle" })[0].text,
    "The room has ended (idle).");
  assert.deepEqual(types(state.applyEvent(s, { type: "replaced", room: "r1" })), ["replaced"]);
});

test("room_state replaces the picture; our replies' changes; clearing forgets the room", () => {
  const s = inRoom();
  const effects = state.applyEvent(s, { type: "room_state", room: "r1", state: room({ title: "New", host: { user: ME, name: "Ada", self_muted: false } }) });
  assert.deepEqual(types(effects), ["state_shown", "media_check"]);
  assert.equal(s.role, "host");
  assert.equal(state.hostSelfMuted(s, true), true);
  assert.equal(state.mySelfMuted(s), true);
  state.micRequested(s, { position: 3 });
  assert.deepEqual(s.myRequest, { position: 3 });
  state.clearRoom(s);
  assert.equal(s.room, null);
  assert.equal(s.members.size, 0);
  assert.equal(state.isSpeaker(s), false);
});
