// The page's "meet someone" state, pure (docs/protocol.md "Random matching (連線)"): what we
// ask for, whether we wait, who we were matched with. No DOM, no socket, no timers, so it runs
// (and is tested, web/meet_state.test.mjs) under node as well as in the page. Each function
// changes the state and returns the effects the page must then carry out (meet.js does):
// render, notify, join {prefs}, leave, hangup {call}, report {user, reason}, block {user}.
//
// The match's call itself is call_state.js's (match_found makes it the page's active call);
// this module keeps the peer's card beside it, and what happens when the call ends: back to
// the form with the last peer's card (report and block still possible), or, after "Next",
// straight back into the queue with the same preferences.

export const PHASES = ["off", "idle", "joining", "waiting", "matched", "ended"];
const TAGS_MAX = 10;
const TAG_MAX = 24;

/** The meet part of the page's state; `me` is the signed-in user id. */
export function meetState(me = null) {
  return {
    me,
    verified: false,
    city: null, // the profile's city: `same` needs one
    phase: "off", // off (not verified) | idle | joining | waiting | matched | ended
    prefs: { city: "any", tags: [] }, // what the form asks for
    call: null, // the match call's id while matched
    peer: null, // {user, name, city, tags} while matched
    last: null, // the card of the peer of the call that ended
    moveOn: false, // "Next" pressed: join again once the call is over
    reporting: false, // the report form is open
    reported: [], // users reported from this page
    error: null, // why the last match_join was refused, in words
  };
}

const render = { type: "render" };
const notify = (text, kind = "info") => ({ type: "notify", text, kind });

function label(card) {
  return (card && (card.name || card.user)) || "Someone";
}

/** "jazz, Cats , jazz" -> ["jazz", "Cats"]: trimmed, without repeats (any case), bounded. */
export function parseTags(text) {
  const out = [];
  const seen = new Set();
  for (const raw of String(text || "").split(/[,，]/)) {
    const tag = raw.trim().slice(0, TAG_MAX);
    if (!tag || seen.has(tag.toLowerCase())) continue;
    seen.add(tag.toLowerCase());
    out.push(tag);
    if (out.length === TAGS_MAX) break;
  }
  return out;
}

/** Tags the peer shares with what we asked for (any case), for the card to show first. */
export function sharedTags(s, card) {
  const mine = new Set(s.prefs.tags.map((t) => t.toLowerCase()));
  return ((card && card.tags) || []).filter((t) => mine.has(String(t).toLowerCase()));
}

export function canAskSameCity(s) {
  return Boolean(s.city);
}

// ---------------------------------------------------------------- the session

export function signedIn(s, me, verified) {
  Object.assign(s, meetState(me));
  s.verified = Boolean(verified);
  s.phase = s.verified ? "idle" : "off";
  return [render];
}

/** Our own profile read (get_profile / set_profile): its city, and its tags as the default. */
export function profileRead(s, profile) {
  if (!profile) return [];
  s.city = profile.city || null;
  if (!s.prefs.tags.length && Array.isArray(profile.tags)) s.prefs.tags = profile.tags.slice(0, TAGS_MAX);
  if (!s.city && s.prefs.city === "same") s.prefs.city = "any";
  return [render];
}

// ---------------------------------------------------------------- what the user does

/** "Meet someone": the form's choices, then match_join. */
export function joinAsked(s, { city = "any", tags = [] } = {}) {
  if (s.phase === "off" || s.phase === "matched") return [];
  s.prefs = { city: city === "same" && canAskSameCity(s) ? "same" : "any", tags: tags.slice(0, TAGS_MAX) };
  s.phase = "joining";
  s.error = null;
  s.reporting = false;
  return [{ type: "join", prefs: { ...s.prefs, tags: [...s.prefs.tags] } }, render];
}

/** match_join answered ok: we wait (unless a match came first). */
export function joined(s) {
  if (s.phase === "joining") s.phase = "waiting";
  return [render];
}

/** match_join refused: back to the form, saying why. */
export function joinRefused(s, code, text) {
  if (s.phase !== "joining") return [];
  s.phase = code === "not_verified" ? "off" : "idle";
  if (code === "not_verified") s.verified = false;
  s.error = text;
  return [notify(text, "error"), render];
}

/** "Stop looking". */
export function leaveAsked(s) {
  if (s.phase !== "waiting" && s.phase !== "joining") return [];
  s.phase = s.last ? "ended" : "idle";
  return [{ type: "leave" }, render];
}

/** "Next": this call ends, and we look for someone else at once. */
export function nextAsked(s) {
  if (s.phase !== "matched") return [];
  s.moveOn = true;
  s.reporting = false;
  return [{ type: "hangup", call: s.call }];
}

export function reportOpened(s, open = true) {
  const card = s.peer || s.last;
  if (!card) return [];
  s.reporting = Boolean(open);
  return [render];
}

/** "Send" in the report form: the reason trimmed, 1 to 140 characters. */
export function reportAsked(s, reason) {
  const card = s.peer || s.last;
  const text = String(reason || "").trim().slice(0, 140);
  if (!card || !text) return [notify("Say in a few words what happened.", "error")];
  return [{ type: "report", user: card.user, reason: text }];
}

export function reported(s, user) {
  if (!s.reported.includes(user)) s.reported.push(user);
  s.reporting = false;
  return [notify("Thank you: the moderators will look at it."), render];
}

/** "Block": never matched again; a live match ends. */
export function blockAsked(s) {
  const card = s.peer || s.last;
  if (!card) return [];
  const effects = [{ type: "block", user: card.user }];
  if (s.phase === "matched") effects.push({ type: "hangup", call: s.call });
  return effects;
}

export function blocked(s, user) {
  const card = [s.peer, s.last].find((c) => c && c.user === user);
  return [notify(`${card ? label(card) : user} is blocked: you will not meet again.`), render];
}

// ---------------------------------------------------------------- the server's word

/** Events: match_found starts a match; the end of its call ends it. */
export function applyMeetEvent(s, ev) {
  if (ev.type === "match_found" && ev.call && ev.peer) {
    s.phase = "matched";
    s.call = ev.call.id;
    s.peer = { user: ev.peer.user, name: ev.peer.name, city: ev.peer.city || null, tags: ev.peer.tags || [] };
    s.last = null;
    s.moveOn = false;
    s.reporting = false;
    s.error = null;
    return [notify(`You are talking with ${label(s.peer)}.`), render];
  }
  const over = (ev.type === "call_ended") || (ev.type === "call_state" && ev.call && ev.call.state === "ended");
  if (over && ev.call && ev.call.id === s.call) return callOver(s);
  return [];
}

/** Our match call is over: ended by either side (our hangup's reply, or an event). */
export function callOver(s, callId = s.call) {
  if (s.phase !== "matched" || callId !== s.call) return [];
  s.last = s.peer;
  s.peer = null;
  s.call = null;
  if (s.moveOn) {
    s.moveOn = false;
    s.phase = "joining";
    return [{ type: "join", prefs: { ...s.prefs, tags: [...s.prefs.tags] } }, render];
  }
  s.phase = "ended";
  return [render];
}

/** After a reconnect: the server took us out of the queue when the socket dropped. */
export function reconnected(s) {
  if (s.phase !== "waiting" && s.phase !== "joining") return [];
  s.phase = "joining";
  return [{ type: "join", prefs: { ...s.prefs, tags: [...s.prefs.tags] } }, render];
}

/** Words for the panel's head line. */
export function statusText(s) {
  switch (s.phase) {
    case "off":
      return "Meeting new people is for real-name verified users.";
    case "joining":
    case "waiting":
      return "Looking for someone to talk to…";
    case "matched":
      return `Talking with ${label(s.peer)}`;
    case "ended":
      return `Your chat with ${label(s.last)} ended.`;
    default:
      return "Talk one to one with someone new, at random.";
  }
}
