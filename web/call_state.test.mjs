// The page's call state without a browser (tests/web/test_people_call_state.py runs it):
// events and replies go in, the state and the effects come out.

import assert from "node:assert/strict";
import { test } from "node:test";

import * as calls from "./call_state.js";

const ME = "ada";
const T0 = 1_000_000;

function call(overrides = {}) {
  return {
    id: "c1",
    state: "ringing",
    video: false,
    caller: { user: "bob", name: "Bob", app: "main", away: false },
    callee: { user: ME, name: "Ada", away: false },
    kind: "friend",
    started_at: null,
    reason: null,
    ...overrides,
  };
}
const outgoing = (overrides = {}) =>
  call({ caller: { user: ME, name: "Ada", app: "main" }, callee: { user: "bob", name: "Bob" }, ...overrides });
const types = (effects) => effects.map((e) => e.type);

test("an incoming call rings until it is answered, and the answer starts the media", () => {
  const s = calls.callState(ME);
  let effects = calls.applyCallEvent(s, { type: "call_incoming", call: call() }, T0);
  assert.deepEqual(types(effects), ["ring", "render"]);
  assert.equal(calls.viewOf(s), "incoming");
  assert.equal(calls.ringingHere(s).id, "c1");
  assert.equal(calls.peerOf(s, calls.ringingHere(s)).name, "Bob");
  // The same event twice (a replay) changes nothing.
  assert.deepEqual(calls.applyCallEvent(s, { type: "call_incoming", call: call() }, T0), []);

  effects = calls.answered(s, call({ state: "active", started_at: 5 }), T0 + 500);
  assert.deepEqual(types(effects), ["stop_ringback", "stop_ring", "start_media", "render"]);
  assert.equal(calls.viewOf(s), "active");
  assert.equal(calls.durationText(s, T0 + 500), "0:00");
  assert.equal(calls.durationText(s, T0 + 500 + 65_000), "1:05");
  assert.equal(calls.durationText(s, T0 + 500 + 3_723_000), "1:02:03");
});

test("declining stops the ringing; a caller who gives up leaves a missed call", () => {
  const s = calls.callState(ME);
  calls.applyCallEvent(s, { type: "call_incoming", call: call() }, T0);
  assert.deepEqual(types(calls.declined(s, "c1")), ["stop_ring", "render"]);
  assert.equal(calls.viewOf(s), "none");

  calls.applyCallEvent(s, { type: "call_incoming", call: call({ id: "c2" }) }, T0);
  const effects = calls.applyCallEvent(s, { type: "call_ended", call: call({ id: "c2", state: "ended" }), reason: "cancelled" }, T0);
  assert.deepEqual(types(effects), ["notify", "stop_ring", "render"]);
  assert.equal(effects[0].text, "Missed call from Bob.");
  // Answered on another device: the ringing stops without a word.
  calls.applyCallEvent(s, { type: "call_incoming", call: call({ id: "c3" }) }, T0);
  const elsewhere = calls.applyCallEvent(s, { type: "call_ended", call: call({ id: "c3", state: "active" }), reason: "answered_elsewhere" }, T0);
  assert.deepEqual(types(elsewhere), ["stop_ring", "render"]);
  assert.equal(calls.viewOf(s), "none");
});

test("a placed call rings out, goes live on call_state, and ends on the other's hangup", () => {
  const s = calls.callState(ME);
  let effects = calls.placed(s, outgoing({ video: true }), T0);
  assert.deepEqual(types(effects), ["stop_ring", "ringback", "render"]);
  assert.equal(calls.viewOf(s), "outgoing");
  assert.equal(calls.isVideo(s), true);

  effects = calls.applyCallEvent(s, { type: "call_state", call: outgoing({ video: true, state: "active" }) }, T0 + 2000);
  assert.deepEqual(types(effects), ["stop_ringback", "stop_ring", "start_media", "render"]);
  assert.equal(s.since, T0 + 2000);
  // The other party drops and comes back: still the same live call, no new media.
  effects = calls.applyCallEvent(s, { type: "call_state", call: outgoing({ video: true, state: "active", callee: { user: "bob", name: "Bob", away: true } }) }, T0 + 9000);
  assert.deepEqual(types(effects), ["render"]);
  assert.equal(s.peerAway, true);
  assert.equal(s.since, T0 + 2000);

  effects = calls.applyCallEvent(s, { type: "call_ended", call: outgoing({ state: "ended", reason: "hangup" }), reason: "hangup" }, T0);
  assert.deepEqual(types(effects), ["stop_ringback", "stop_media", "stop_ring", "notify", "render"]);
  assert.equal(effects[3].text, "Call ended.");
  assert.equal(calls.viewOf(s), "none");
  assert.equal(s.last.text, "Call ended.");
});

test("the callee's answer to our call may come as the reply itself (calling back)", () => {
  const s = calls.callState(ME);
  calls.applyCallEvent(s, { type: "call_incoming", call: call() }, T0);
  const effects = calls.placed(s, call({ state: "active" }), T0 + 10);
  assert.ok(types(effects).includes("start_media"));
  assert.equal(calls.viewOf(s), "active");
  assert.equal(s.incoming.length, 0);
});

test("how a call ended is said from this side", () => {
  const s = calls.callState(ME);
  calls.placed(s, outgoing(), T0);
  const effects = calls.applyCallEvent(s, { type: "call_ended", call: outgoing({ state: "ended" }), reason: "declined" }, T0);
  assert.equal(effects.find((e) => e.type === "notify").text, "Bob declined the call.");
  assert.equal(calls.endText("no_answer", { peer: { user: "bob", name: "Bob" }, role: "caller" }), "Bob did not answer.");
  assert.equal(calls.endText("connection_lost", { peer: null, role: "caller" }), "The call dropped: a connection was lost.");
  assert.equal(calls.endText("weird", { peer: null, role: null }), "Call ended (weird).");
});

test("our own hangup: cancelled while ringing, ended once live", () => {
  const s = calls.callState(ME);
  calls.placed(s, outgoing(), T0);
  let effects = calls.hungUp(s, "c1");
  assert.equal(effects.find((e) => e.type === "notify").text, "Call cancelled.");
  calls.placed(s, outgoing({ id: "c9" }), T0);
  calls.applyCallEvent(s, { type: "call_state", call: outgoing({ id: "c9", state: "active" }) }, T0);
  effects = calls.hungUp(s, "c9");
  assert.ok(types(effects).includes("stop_media"));
  assert.equal(calls.viewOf(s), "none");
});

test("a second call ringing during ours waits silently, then rings", () => {
  const s = calls.callState(ME);
  calls.placed(s, outgoing(), T0);
  calls.applyCallEvent(s, { type: "call_state", call: outgoing({ state: "active" }) }, T0);
  let effects = calls.applyCallEvent(s, { type: "call_incoming", call: call({ id: "c2", caller: { user: "cy", name: "Cy" } }) }, T0);
  assert.deepEqual(types(effects), ["stop_ring", "render"]);
  assert.equal(calls.viewOf(s), "active");
  effects = calls.hungUp(s, "c1");
  assert.ok(types(effects).includes("ring"));
  assert.equal(calls.viewOf(s), "incoming");
});

test("mute and camera are the call's; the camera only in a video call", () => {
  const s = calls.callState(ME);
  calls.placed(s, outgoing(), T0);
  assert.deepEqual(calls.setCamera(s, false), []);
  assert.deepEqual(calls.setMuted(s, true), [{ type: "mute", muted: true }, { type: "render" }]);
  const v = calls.callState(ME);
  calls.placed(v, outgoing({ video: true }), T0);
  assert.deepEqual(types(calls.setCamera(v, false)), ["camera", "render"]);
  assert.equal(v.cameraOn, false);
});

test("after a reconnect the server's list decides which calls are still live", () => {
  const s = calls.callState(ME);
  calls.placed(s, outgoing({ state: "active" }), T0);
  calls.applyCallEvent(s, { type: "call_incoming", call: call({ id: "c2" }) }, T0);
  let effects = calls.refreshed(s, [outgoing({ state: "active" })], T0 + 1);
  assert.deepEqual(types(effects), ["start_media", "stop_ring", "render"]);
  assert.equal(s.incoming.length, 0);
  effects = calls.refreshed(s, [], T0 + 2);
  assert.ok(types(effects).includes("stop_media"));
  assert.equal(calls.viewOf(s), "none");
});

test("events that are not about calls, or malformed ones, change nothing", () => {
  const s = calls.callState(ME);
  assert.deepEqual(calls.applyCallEvent(s, { type: "chat_message", room: "r" }, T0), []);
  assert.deepEqual(calls.applyCallEvent(s, { type: "call_incoming" }, T0), []);
  assert.deepEqual(calls.applyCallEvent(s, { type: "call_state", call: { id: 5 } }, T0), []);
  assert.deepEqual(calls.applyCallEvent(s, { type: "call_ended", call: call({ id: "zz" }) }, T0), []);
  assert.equal(calls.viewOf(s), "none");
});
