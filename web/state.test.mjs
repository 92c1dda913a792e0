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
  assert.deepEqual(types(effects), ["notify", "render"]);
  assert.deepEqual(s.room.queue.map((q) => q.user), ["bob"]);
  effects = state.applyEvent(s, { type: "mic_requested", room: "r1", user: "cy", name: "Cy", position: 5 });
  assert.deepEqual(types(effects), ["notify", "resync", "render"]);
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

// ---------------------------------------------------------------- issue 13: what the page says

const notices = (effects) => effects.filter((e) => e.type === "notify" || e.type === "clear_notice");

test("an invitation to any seat says a free seat, and its notice goes once seated", () => {
  const s = inRoom();
  let effects = state.applyEvent(s, { type: "seat_invited", room: "r1", seat: null, by: "host" });
  assert.equal(effects[0].text, "Host invites you to a free seat.");
  assert.equal(effects[0].key, "invite");
  assert.equal(state.inviteText(s), "Host invites you to a free seat.");
  effects = state.applyEvent(s, { type: "seat_changed", room: "r1", seat: seat(1, ME) });
  assert.deepEqual(notices(effects), [{ type: "clear_notice", key: "invite" }]);
  assert.equal(s.invite, null);
});

test("a new mic request tells the host with the answer at hand; its notice goes with it", () => {
  const s = inRoom({ host: { user: ME, name: "Ada", self_muted: false } });
  let effects = state.applyEvent(s, { type: "mic_requested", room: "r1", user: "bob", name: "Bob", position: 1, note: "a song" });
  const [ask] = notices(effects);
  assert.equal(ask.text, "Bob asks for the mic: “a song”");
  assert.equal(ask.kind, "request");
  assert.equal(ask.key, "mic-request:bob");
  assert.deepEqual(ask.actions.map((a) => [a.action, a.arg]), [["acceptMic", "bob"], ["showQueue", undefined]]);
  assert.equal(state.queueLength(s), 1);
  effects = state.applyEvent(s, { type: "mic_request_cancelled", room: "r1", user: "bob" });
  assert.deepEqual(notices(effects), [{ type: "clear_notice", key: "mic-request:bob" }]);
});

test("listeners know how long the queue is without seeing it", () => {
  const s = inRoom({ queue_length: 2, queue: undefined });
  assert.equal(state.queueLength(s), 2);
  state.applyEvent(s, { type: "audience_changed", room: "r1", count: 4, queue: 5 });
  assert.equal(state.queueLength(s), 5);
  assert.equal(s.room.audience_count, 4);
  state.applyEvent(s, { type: "audience_changed", room: "r1", count: 3 }); // a v1 server
  assert.equal(state.queueLength(s), 5);
});

test("the mic button's state: live, off, muted by the host, blocked", () => {
  const s = inRoom({ seats: [seat(0, ME), seat(1), seat(2)] });
  assert.equal(state.micState(s), "live");
  s.room.seats[0].self_muted = true;
  assert.equal(state.micState(s), "off");
  assert.equal(state.micState(s, { micDenied: true }), "denied");
  s.room.seats[0].muted = true;
  assert.equal(state.micState(s, { micDenied: true }), "host-muted");
  const listener = inRoom();
  assert.equal(state.micState(listener), "none");
});

test("landing on a seat the host muted says so; unmuting clears it", () => {
  const muted = { ...seat(2), muted: true };
  const s = inRoom({ seats: [seat(0), seat(1), muted] });
  let effects = state.applyEvent(s, { type: "mic_accepted", room: "r1", seat: 2 });
  assert.match(effects[0].text, /seat 3\. The host has muted this seat/);
  effects = state.applyEvent(s, { type: "seat_changed", room: "r1", seat: { ...muted, user: ME, name: "Ada" } });
  const [told] = notices(effects);
  assert.equal(told.key, "seat-muted");
  assert.equal(told.kind, "warn");
  effects = state.applyEvent(s, { type: "seat_changed", room: "r1", seat: { ...muted, muted: false, user: ME, name: "Ada" } });
  assert.deepEqual(notices(effects).map((e) => e.type), ["clear_notice", "notify"]);
  assert.match(notices(effects)[1].text, /unmuted your seat/);
});

test("list_members pages become known members; joins and leaves are told for the chat", () => {
  const s = inRoom({ host: { user: ME, name: "Ada", self_muted: false } });
  state.membersListed(s, { members: [{ user: "zed", name: "Zed", role: "audience", seat: null, away: true }], cursor: "c2" });
  assert.equal(s.members.get("zed").away, true);
  assert.equal(s.memberCursor, "c2");
  state.membersListed(s, { members: [] });
  assert.equal(s.memberCursor, null);
  let effects = state.applyEvent(s, { type: "member_joined", room: "r1", user: "yan", name: "Yan", role: "audience" });
  assert.deepEqual(effects[0], { type: "presence", user: "yan", name: "Yan", joined: true });
  effects = state.applyEvent(s, { type: "member_left", room: "r1", user: "yan" });
  assert.deepEqual(effects[0], { type: "presence", user: "yan", name: "Yan", joined: false });
  assert.equal(s.members.has("yan"), false);
});

test("recording: the state's mark, recording_changed on and off, recording_error", () => {
  const recorded = inRoom({ recording: { id: "r1-x", started_at: 1, by: "host" } });
  assert.equal(recorded.room.recording.id, "r1-x");
  const s = inRoom();
  assert.equal(s.room.recording, undefined);
  let effects = state.applyEvent(s, { type: "recording_changed", room: "r1", active: true, by: "host" });
  assert.equal(s.room.recording.by, "host");
  assert.deepEqual(types(effects), ["notify", "render"]);
  effects = state.applyEvent(s, { type: "recording_changed", room: "r1", active: false, by: null });
  assert.equal(s.room.recording, undefined);
  state.applyEvent(s, { type: "recording_changed", room: "r1", active: true, by: "host" });
  effects = state.applyEvent(s, { type: "recording_error", room: "r1", id: "x", reason: "disk_full", message: "full" });
  assert.equal(effects[0].kind, "error");
  assert.match(effects[0].text, /full/);
});
