// The page's "meet someone" state without a browser (tests/web/test_meet_state_module.py).

import assert from "node:assert/strict";
import { test } from "node:test";

import * as ms from "./meet_state.js";

const types = (effects) => effects.map((e) => e.type);
const CALL = { id: "m1", state: "active", kind: "match" };
const BOB = { user: "bob", name: "Bob", city: "Taipei", tags: ["Jazz", "cats"] };

function verified(profile = { city: "Taipei", tags: ["jazz"] }) {
  const s = ms.meetState();
  ms.signedIn(s, "ada", true);
  ms.profileRead(s, profile);
  return s;
}

test("an unverified user cannot start; a verified one joins, waits and is matched", () => {
  const off = ms.meetState();
  ms.signedIn(off, "zed", false);
  assert.equal(off.phase, "off");
  assert.deepEqual(ms.joinAsked(off, {}), []);
  assert.match(ms.statusText(off), /verified/);

  const s = verified();
  assert.deepEqual(s.prefs, { city: "any", tags: ["jazz"] }); // the profile's tags by default
  let effects = ms.joinAsked(s, { city: "same", tags: ["jazz", "cats"] });
  assert.deepEqual(effects[0], { type: "join", prefs: { city: "same", tags: ["jazz", "cats"] } });
  assert.equal(s.phase, "joining");
  ms.joined(s);
  assert.equal(s.phase, "waiting");
  assert.match(ms.statusText(s), /Looking for someone/);

  effects = ms.applyMeetEvent(s, { type: "match_found", call: CALL, peer: BOB });
  assert.deepEqual(types(effects), ["notify", "render"]);
  assert.equal(effects[0].text, "You are talking with Bob.");
  assert.equal(s.phase, "matched");
  assert.deepEqual(s.peer, BOB);
  assert.deepEqual(ms.sharedTags(s, s.peer), ["Jazz", "cats"]);
  assert.equal(ms.statusText(s), "Talking with Bob");
});

test("a match found before the join's reply stays matched", () => {
  const s = verified();
  ms.joinAsked(s, {});
  ms.applyMeetEvent(s, { type: "match_found", call: CALL, peer: BOB });
  ms.joined(s);
  assert.equal(s.phase, "matched");
});

test("same city needs a city; a refusal says why and goes back to the form", () => {
  const s = verified({ city: null, tags: [] });
  assert.equal(ms.canAskSameCity(s), false);
  ms.joinAsked(s, { city: "same" });
  assert.equal(s.prefs.city, "any");
  const effects = ms.joinRefused(s, "already_in_call", "You are in a call.");
  assert.deepEqual(types(effects), ["notify", "render"]);
  assert.equal(s.phase, "idle");
  assert.equal(s.error, "You are in a call.");
  ms.joinAsked(s, {});
  ms.joinRefused(s, "not_verified", "Only verified users.");
  assert.equal(s.phase, "off");
});

test("the peer hanging up ends the match; the card stays for report and block", () => {
  const s = verified();
  ms.joinAsked(s, {});
  ms.applyMeetEvent(s, { type: "match_found", call: CALL, peer: BOB });
  assert.deepEqual(ms.applyMeetEvent(s, { type: "call_ended", call: { id: "other" } }), []);
  const effects = ms.applyMeetEvent(s, { type: "call_ended", reason: "hangup", call: { ...CALL, state: "ended" } });
  assert.deepEqual(types(effects), ["render"]);
  assert.equal(s.phase, "ended");
  assert.deepEqual(s.last, BOB);
  assert.equal(ms.statusText(s), "Your chat with Bob ended.");

  ms.reportOpened(s);
  assert.equal(s.reporting, true);
  assert.deepEqual(types(ms.reportAsked(s, "   ")), ["notify"]);
  assert.deepEqual(ms.reportAsked(s, "  rude  "), [{ type: "report", user: "bob", reason: "rude" }]);
  ms.reported(s, "bob");
  assert.deepEqual(s.reported, ["bob"]);
  assert.equal(s.reporting, false);
  assert.deepEqual(ms.blockAsked(s), [{ type: "block", user: "bob" }]); // no call to end now
  assert.equal(ms.blocked(s, "bob")[0].text, "Bob is blocked: you will not meet again.");
});

test("next hangs up and joins again with the same preferences", () => {
  const s = verified();
  ms.joinAsked(s, { city: "same", tags: ["jazz"] });
  ms.joined(s);
  ms.applyMeetEvent(s, { type: "match_found", call: CALL, peer: BOB });
  assert.deepEqual(ms.nextAsked(s), [{ type: "hangup", call: "m1" }]);
  const effects = ms.callOver(s, "m1"); // our hangup's reply
  assert.deepEqual(effects[0], { type: "join", prefs: { city: "same", tags: ["jazz"] } });
  assert.equal(s.phase, "joining");
  assert.deepEqual(s.last, BOB);
  assert.deepEqual(ms.callOver(s, "m1"), []); // told twice (the event after the reply)
});

test("block during a match ends the call; stop leaves the queue", () => {
  const s = verified();
  ms.joinAsked(s, {});
  ms.applyMeetEvent(s, { type: "match_found", call: CALL, peer: BOB });
  assert.deepEqual(ms.blockAsked(s), [{ type: "block", user: "bob" }, { type: "hangup", call: "m1" }]);
  ms.callOver(s);
  assert.equal(s.phase, "ended");
  ms.joinAsked(s, {});
  assert.deepEqual(types(ms.leaveAsked(s)), ["leave", "render"]);
  assert.equal(s.phase, "ended"); // the last card stays
  assert.deepEqual(ms.leaveAsked(s), []);
});

test("a reconnect asks again while waiting, and only then", () => {
  const s = verified();
  assert.deepEqual(ms.reconnected(s), []);
  ms.joinAsked(s, { tags: ["a"] });
  ms.joined(s);
  assert.deepEqual(ms.reconnected(s)[0], { type: "join", prefs: { city: "any", tags: ["a"] } });
});

test("tags typed in the form", () => {
  assert.deepEqual(ms.parseTags(" jazz, Cats ,jazz,,JAZZ，貓 "), ["jazz", "Cats", "貓"]);
  assert.equal(ms.parseTags(Array.from({ length: 12 }, (_, i) => `t${i}`).join(",")).length, 10);
  assert.equal(ms.parseTags("x".repeat(30))[0].length, 24);
});

test("match_found makes the match the page's live call (call_state.js)", async () => {
  const cs = await import("./call_state.js");
  const s = cs.callState("ada");
  const call = { ...CALL, video: false, caller: { user: "ada", name: "Ada" }, callee: { user: "bob", name: "Bob" } };
  const effects = cs.applyCallEvent(s, { type: "match_found", call, peer: BOB }, 1000);
  assert.ok(types(effects).includes("start_media"));
  assert.equal(cs.viewOf(s), "active");
  assert.equal(cs.peerOf(s, s.call).user, "bob");
  assert.deepEqual(cs.applyCallEvent(s, { type: "match_found", call, peer: BOB }, 2000), []);
});
