// The page's people state, pure: events and replies in, state out (docs/protocol.md "Follows,
// friends and blocks"). No DOM, no socket, no timers: tested under node
// (web/people_state.test.mjs). people.js makes the requests and carries out the effects.
//
// Everything here is in the graph of the app this page signed in with, but `blocked`: blocks
// are per user. It comes from `list_follows {which: "blocked"}` (the server's extension,
// docs/protocol.md) at sign-in and after a reconnect, so a reload keeps it; this page's own
// block and unblock replies keep it up to date in between.

export function peopleState(me = null) {
  return {
    me,
    friends: new Map(), // user -> {user, name, online}
    following: new Map(), // user -> {user, name, mutual}
    followers: new Map(), // user -> {user, name, mutual}
    blocked: new Map(), // user -> {user, name}
    found: null, // the searched profile, or {user, missing: true}
    loaded: false,
  };
}

// ---------------------------------------------------------------- reading the state

/** "self" | "blocked" | "friend" | "following" | "follower" | "none" */
export function relationOf(s, user) {
  if (!user) return "none";
  if (user === s.me) return "self";
  if (s.blocked.has(user)) return "blocked";
  if (s.friends.has(user)) return "friend";
  if (s.following.has(user)) return "following";
  if (s.followers.has(user)) return "follower";
  return "none";
}

function byName(a, b) {
  return (a.name || a.user).localeCompare(b.name || b.user) || a.user.localeCompare(b.user);
}

/** Friends, the online ones first, then by name. */
export function friendList(s) {
  return [...s.friends.values()].sort((a, b) => Number(Boolean(b.online)) - Number(Boolean(a.online)) || byName(a, b));
}

/** People who follow us and whom we do not follow back. */
export function waitingFollowers(s) {
  return [...s.followers.values()].filter((f) => !s.following.has(f.user) && !s.friends.has(f.user)).sort(byName);
}

/** People we follow who do not follow back (yet). */
export function pendingFollows(s) {
  return [...s.following.values()].filter((f) => !s.friends.has(f.user)).sort(byName);
}

/** The users we block, by name. */
export function blockedList(s) {
  return [...s.blocked.values()].sort(byName);
}

export function nameIn(s, user) {
  for (const map of [s.friends, s.following, s.followers, s.blocked]) {
    const known = map.get(user);
    if (known && known.name) return known.name;
  }
  if (s.found && s.found.user === user && s.found.name) return s.found.name;
  return user;
}

// ---------------------------------------------------------------- helpers

const render = { type: "render" };
const notify = (text, kind = "info") => ({ type: "notify", text, kind });
const refresh = { type: "refresh" };

function entry(user, name, extra) {
  return { user, name: name || user, ...extra };
}

// ---------------------------------------------------------------- events

/** Applies one server event; [] for events that are not about people. */
export function applyPeopleEvent(s, ev) {
  if (ev.type !== "followed" || typeof ev.user !== "string") return [];
  const { user, name } = ev;
  // A blocked user's follow sends no event: this one says a block made or lifted on
  // another page is stale here.
  s.blocked.delete(user);
  s.followers.set(user, entry(user, name, { mutual: Boolean(ev.mutual) }));
  if (ev.mutual) {
    s.friends.set(user, entry(user, name, { online: true })); // they just acted: online
    const mine = s.following.get(user);
    if (mine) mine.mutual = true;
    return [notify(`${name || user} followed you back: you are friends now.`), render];
  }
  return [notify(`${name || user} follows you. Follow back to be friends.`), render];
}

// ---------------------------------------------------------------- our own requests' replies

/** A whole `list_follows` list. */
export function listed(s, which, users) {
  const map = new Map();
  for (const u of users || []) {
    if (!u || typeof u.user !== "string") continue;
    if (which === "friends") map.set(u.user, entry(u.user, u.name, { online: Boolean(u.online) }));
    else if (which === "blocked") map.set(u.user, entry(u.user, u.name));
    else map.set(u.user, entry(u.user, u.name, { mutual: Boolean(u.mutual) }));
  }
  s[which] = map;
  if (which === "friends") s.loaded = true;
  return [render];
}

export function followed(s, user, name, mutual) {
  s.following.set(user, entry(user, name, { mutual: Boolean(mutual) }));
  if (mutual) {
    const was = s.friends.get(user);
    s.friends.set(user, entry(user, name, { online: was ? was.online : false }));
    // Their online dot comes with the friends list.
    return [notify(`You and ${name || user} are friends now.`), refresh, render];
  }
  return [notify(`You follow ${name || user}. You become friends when they follow you back.`), render];
}

export function unfollowed(s, user) {
  s.following.delete(user);
  s.friends.delete(user);
  const back = s.followers.get(user);
  if (back) back.mutual = false;
  return [render];
}

export function blocked(s, user) {
  const name = nameIn(s, user);
  markBlocked(s, user, name);
  return [notify(`${name} is blocked: no follows or calls between you. They are not told.`), render];
}

/** A block made elsewhere on the page (the meet panel), which told the user already. */
export function blockedElsewhere(s, user, name) {
  markBlocked(s, user, name || nameIn(s, user));
  return [render];
}

// A block removes every follow between the two.
function markBlocked(s, user, name) {
  s.blocked.set(user, entry(user, name));
  for (const map of [s.friends, s.following, s.followers]) map.delete(user);
}

export function unblocked(s, user) {
  const name = nameIn(s, user);
  s.blocked.delete(user);
  return [notify(`${name} is unblocked. Follow each other again to be friends.`), render];
}

export function profileFound(s, profile) {
  s.found = { ...profile };
  if (profile.online !== undefined && s.friends.has(profile.user)) s.friends.get(profile.user).online = Boolean(profile.online);
  return [render];
}

export function profileMissing(s, user) {
  s.found = { user, missing: true };
  return [render];
}

export function signedIn(s, me) {
  Object.assign(s, peopleState(me));
}
