// The page's people state without a browser (tests/web/test_people_call_state.py runs it).

import assert from "node:assert/strict";
import { test } from "node:test";

import * as people from "./people_state.js";

const ME = "ada";
const types = (effects) => effects.map((e) => e.type);

test("a follow back makes friends, and the lists say who is who", () => {
  const s = people.peopleState(ME);
  let effects = people.followed(s, "bob", "Bob", false);
  assert.deepEqual(types(effects), ["notify", "render"]);
  assert.equal(people.relationOf(s, "bob"), "following");
  assert.deepEqual(people.pendingFollows(s).map((u) => u.user), ["bob"]);

  effects = people.applyPeopleEvent(s, { type: "followed", user: "bob", name: "Bob", mutual: true });
  assert.deepEqual(types(effects), ["notify", "render"]);
  assert.equal(effects[0].text, "Bob followed you back: you are friends now.");
  assert.equal(people.relationOf(s, "bob"), "friend");
  assert.deepEqual(people.pendingFollows(s), []);
  assert.equal(s.friends.get("bob").online, true);
  assert.equal(people.relationOf(s, ME), "self");
  assert.equal(people.relationOf(s, "zed"), "none");
});

test("someone following us waits for a follow back; ours then makes friends", () => {
  const s = people.peopleState(ME);
  people.applyPeopleEvent(s, { type: "followed", user: "cy", name: "Cy", mutual: false });
  assert.equal(people.relationOf(s, "cy"), "follower");
  assert.deepEqual(people.waitingFollowers(s).map((u) => u.user), ["cy"]);
  const effects = people.followed(s, "cy", "Cy", true);
  assert.deepEqual(types(effects), ["notify", "refresh", "render"]);
  assert.deepEqual(people.waitingFollowers(s), []);
  assert.equal(people.relationOf(s, "cy"), "friend");
  people.unfollowed(s, "cy");
  assert.equal(people.relationOf(s, "cy"), "follower");
  assert.equal(s.followers.get("cy").mutual, false);
});

test("friends are listed online first, then by name", () => {
  const s = people.peopleState(ME);
  people.listed(s, "friends", [
    { user: "zoe", name: "Zoe", mutual: true, online: true },
    { user: "al", name: "Al", mutual: true, online: false },
    { user: "bea", name: "Bea", mutual: true, online: true },
    { name: "no id" },
  ]);
  assert.equal(s.loaded, true);
  assert.deepEqual(people.friendList(s).map((u) => u.user), ["bea", "zoe", "al"]);
  people.profileFound(s, { user: "al", name: "Al", online: true, tags: [] });
  assert.equal(s.friends.get("al").online, true);
  assert.equal(s.found.user, "al");
});

test("blocking forgets every relation; the search says who is unknown", () => {
  const s = people.peopleState(ME);
  people.listed(s, "friends", [{ user: "bob", name: "Bob", online: true }]);
  people.listed(s, "followers", [{ user: "bob", name: "Bob", mutual: true }]);
  const effects = people.blocked(s, "bob");
  assert.match(effects[0].text, /^Bob is blocked: .* They are not told\.$/);
  assert.equal(people.relationOf(s, "bob"), "blocked");
  assert.equal(s.friends.size + s.followers.size, 0);
  people.unblocked(s, "bob");
  assert.equal(people.relationOf(s, "bob"), "none");
  people.profileMissing(s, "nobody");
  assert.deepEqual(s.found, { user: "nobody", missing: true });
  assert.equal(people.nameIn(s, "nobody"), "nobody");
});

test("the blocked list comes from the server, so a reload keeps it", () => {
  // A fresh page (after a reload) knows no block until `list_follows {which: "blocked"}`.
  const s = people.peopleState(ME);
  assert.equal(people.relationOf(s, "bob"), "none");
  const effects = people.listed(s, "blocked", [
    { user: "zed", name: "Zed", mutual: false },
    { user: "bob", name: "Bob", mutual: false },
    { name: "no id" },
  ]);
  assert.deepEqual(types(effects), ["render"]);
  assert.equal(s.loaded, false); // the friends list says when the panel has loaded
  assert.equal(people.relationOf(s, "bob"), "blocked");
  assert.deepEqual(people.blockedList(s), [
    { user: "bob", name: "Bob" },
    { user: "zed", name: "Zed" },
  ]);
  assert.equal(people.nameIn(s, "zed"), "Zed");

  // Unblocking removes the entry (with a word); blocking adds one, named as we know them.
  const [said] = people.unblocked(s, "bob");
  assert.equal(said.text, "Bob is unblocked. Follow each other again to be friends.");
  assert.deepEqual(people.blockedList(s).map((u) => u.user), ["zed"]);
  assert.equal(people.relationOf(s, "bob"), "none");
  people.profileFound(s, { user: "cy", name: "Cy", tags: [] });
  people.blocked(s, "cy");
  assert.deepEqual(people.blockedList(s), [
    { user: "cy", name: "Cy" },
    { user: "zed", name: "Zed" },
  ]);
  // Read again (after a reconnect), the server's list replaces ours.
  people.listed(s, "blocked", [{ user: "zed", name: "Zed", mutual: false }]);
  assert.deepEqual(people.blockedList(s).map((u) => u.user), ["zed"]);
  // Signing in again (another user) forgets every block.
  people.signedIn(s, "eve");
  assert.deepEqual(people.blockedList(s), []);
});

test("a follow from someone we block means the block was lifted elsewhere", () => {
  const s = people.peopleState(ME);
  people.listed(s, "blocked", [{ user: "bob", name: "Bob" }]);
  people.applyPeopleEvent(s, { type: "followed", user: "bob", name: "Bob", mutual: false });
  assert.equal(people.relationOf(s, "bob"), "follower");
  assert.deepEqual(people.blockedList(s), []);
});

test("other events change nothing", () => {
  const s = people.peopleState(ME);
  assert.deepEqual(people.applyPeopleEvent(s, { type: "call_incoming" }), []);
  assert.deepEqual(people.applyPeopleEvent(s, { type: "followed" }), []);
  assert.equal(s.followers.size, 0);
});

test("a block made from the meet panel is listed at once, under the peer's name", () => {
  const s = people.peopleState("ada");
  people.listed(s, "friends", [{ user: "cy", name: "Cy", online: true }]);
  assert.deepEqual(people.blockedElsewhere(s, "cy", "Cy"), [{ type: "render" }]);
  assert.equal(people.relationOf(s, "cy"), "blocked");
  assert.deepEqual(people.blockedList(s).map((e) => [e.user, e.name]), [["cy", "Cy"]]);
  assert.equal(s.friends.size, 0);
  people.blockedElsewhere(s, "zed");
  assert.equal(people.nameIn(s, "zed"), "zed"); // no name known: the id
});
