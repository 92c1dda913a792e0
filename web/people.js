// People on the page: find a user, follow, unfollow, block and unblock, the friends list with
// its online dots (re-read every few seconds: the protocol has no presence event), the users
// we block (read at sign-in and after a reconnect), and `followed` events through
// people_state.js. `window.voiceroom.people` is this module's state.

import { ProtocolError, describeError } from "./protocol.js";
import { app } from "./context.js";
import * as ps from "./people_state.js";
import { renderPeople } from "./people_view.js";
import { placeCall } from "./calls.js";
import * as ui from "./ui.js";
import { $ } from "./dom.js";

const FRIENDS_REFRESH_MS = 10_000;
const PAGE = 100;
const MAX_PAGES = 50;

const state = ps.peopleState();
let timer = null;
app.people = state;

const actions = {
  follow: (user, name) => act("follow", user, (reply) => ps.followed(state, user, name || ps.nameIn(state, user), reply.mutual)),
  unfollow: (user) => act("unfollow", user, () => ps.unfollowed(state, user)),
  block: (user) => act("block", user, () => ps.blocked(state, user)),
  unblock: (user) => act("unblock", user, () => ps.unblocked(state, user)),
  call: (user, video) => placeCall(user, video),
  show: (user) => find(user),
};

function run(effects) {
  for (const effect of effects) {
    if (effect.type === "render") render();
    else if (effect.type === "notify") ui.notify(effect.text, effect.kind);
    else if (effect.type === "refresh") refreshFriends();
  }
}

function render() {
  renderPeople(state, actions);
}

function connected() {
  return Boolean(app.conn && app.conn.isOpen);
}

async function act(type, user, then) {
  if (!connected()) return;
  try {
    run(then(await app.conn.request(type, { user })));
  } catch (err) {
    ui.notify(describeError(err), "error");
  }
}

/** A block made from another panel (meet.js): the Blocked section lists it at once. */
export function noteBlocked(user, name) {
  run(ps.blockedElsewhere(state, user, name));
}

/** Shows `user`'s profile in the panel (the search). */
export async function find(user) {
  user = String(user || "").trim();
  if (!user || !connected()) return;
  try {
    const reply = await app.conn.request("get_profile", { user });
    run(ps.profileFound(state, reply.profile));
  } catch (err) {
    if (err instanceof ProtocolError && (err.code === "no_such_user" || err.code === "bad_request")) run(ps.profileMissing(state, user));
    else ui.notify(describeError(err), "error");
  }
}

async function wholeList(which) {
  let users = [];
  let cursor;
  for (let page = 0; page < MAX_PAGES; page++) {
    const reply = await app.conn.request("list_follows", { which, limit: PAGE, ...(cursor ? { cursor } : {}) });
    users = users.concat(reply.users || []);
    if (!reply.cursor || reply.cursor === cursor) break;
    cursor = reply.cursor;
  }
  return users;
}

async function refresh(which) {
  if (!connected()) return;
  try {
    run(ps.listed(state, which, await wholeList(which)));
  } catch (err) {
    if (err.code !== "disconnected") ui.notify(describeError(err), "error");
  }
}

export function refreshFriends() {
  return refresh("friends");
}

/** Every list, blocks included: at sign-in and after a reconnect (the page may have missed
 * changes made elsewhere). */
export async function refreshPeople() {
  await Promise.all(["friends", "following", "followers", "blocked"].map(refresh));
}

/** A server event (every one passes here; people_state.js keeps `followed`). */
export function onPeopleEvent(ev) {
  run(ps.applyPeopleEvent(state, ev));
}

export function peopleSignedIn(user) {
  ps.signedIn(state, user);
  $("my-app").textContent = app.session.app || "main";
  render();
  refreshPeople();
  clearInterval(timer);
  timer = setInterval(() => {
    if (document.body.dataset.view === "lobby") refreshFriends();
  }, FRIENDS_REFRESH_MS);
}

export function peopleSignedOut() {
  clearInterval(timer);
  timer = null;
  ps.signedIn(state, null);
  render();
}

export function wirePeople() {
  $("people-search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    find(ev.target.elements.user.value);
  });
}
