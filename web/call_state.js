// The page's call state, pure: events in, state out (docs/protocol.md "Calls (one to one)").
// No DOM, no socket, no timers, so it runs (and is tested, web/call_state.test.mjs) under
// node as well as in the page. Each handler changes the state and returns the effects the
// page must then carry out; calls.js carries them out. `now` (milliseconds) is passed in,
// so the call's duration is measured on this page's clock, from the moment it went live.
//
// One call at a time is this page's: a call it placed, or one ringing here that it answered.
// Other calls ringing here while it is busy wait in `incoming` (the server says `busy` to a
// caller only while we are in an active call; a second call may ring during the first).

/** The call part of the page's state; `me` is the signed-in user id. */
export function callState(me = null) {
  return {
    me,
    call: null, // our call: ringing out, or active
    since: null, // when our call went active (ms, the page's clock)
    incoming: [], // CallStates ringing here, oldest first
    muted: false,
    cameraOn: true,
    peerAway: false,
    last: null, // {text, kind}: how the last call ended, for the in-call view's last words
  };
}

// ---------------------------------------------------------------- reading the state

/** "none" | "incoming" | "outgoing" | "active": what the call view shows. */
export function viewOf(s) {
  if (s.call && s.call.state === "active") return "active";
  if (s.call && s.call.state === "ringing") return "outgoing";
  if (s.incoming.length) return "incoming";
  return "none";
}

export function ringingHere(s) {
  return s.incoming[0] || null;
}

export function roleIn(s, call) {
  if (!call) return null;
  if (call.caller.user === s.me) return "caller";
  if (call.callee.user === s.me) return "callee";
  return null;
}

/** The other party {user, name, away?}. */
export function peerOf(s, call) {
  if (!call) return null;
  return roleIn(s, call) === "caller" ? call.callee : call.caller;
}

export function isVideo(s) {
  return Boolean(s.call && s.call.video);
}

/** "m:ss" (or "h:mm:ss") since the call went live. */
export function durationText(s, now) {
  if (s.since === null) return "0:00";
  const total = Math.max(0, Math.floor((now - s.since) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** How a call ended, in words for the person on this side. */
export function endText(reason, { peer, role }) {
  const who = (peer && (peer.name || peer.user)) || "The other side";
  switch (reason) {
    case "declined":
      return role === "caller" ? `${who} declined the call.` : "Call declined.";
    case "cancelled":
      return role === "caller" ? "Call cancelled." : `Missed call from ${who}.`;
    case "no_answer":
      return role === "caller" ? `${who} did not answer.` : `Missed call from ${who}.`;
    case "hangup":
      return "Call ended.";
    case "connection_lost":
      return "The call dropped: a connection was lost.";
    case "answered_elsewhere":
      return "Answered on another device.";
    default:
      return reason ? `Call ended (${reason}).` : "Call ended.";
  }
}

// ---------------------------------------------------------------- helpers

const render = { type: "render" };
const notify = (text, kind = "info") => ({ type: "notify", text, kind });

function sameCall(a, b) {
  return Boolean(a && b && a.id === b.id);
}

function dropIncoming(s, id) {
  const before = s.incoming.length;
  s.incoming = s.incoming.filter((c) => c.id !== id);
  return before !== s.incoming.length;
}

function ringEffects(s) {
  // The ringtone plays while something rings here and we are not in a call ourselves.
  if (s.incoming.length && !s.call) return [{ type: "ring" }];
  return [{ type: "stop_ring" }];
}

function becameActive(s, call, now) {
  const was = s.call;
  s.call = call;
  s.peerAway = Boolean(peerOf(s, call) && peerOf(s, call).away);
  if (was && was.state === "active" && was.id === call.id) return [render];
  s.since = now;
  s.muted = false;
  s.cameraOn = true;
  s.last = null;
  return [{ type: "stop_ringback" }, ...ringEffects(s), { type: "start_media", call }, render];
}

function finish(s, reason) {
  const call = s.call;
  const text = endText(reason, { peer: peerOf(s, call), role: roleIn(s, call) });
  s.call = null;
  s.since = null;
  s.peerAway = false;
  s.last = { text, kind: reason === "hangup" ? "info" : "error" };
  const kind = reason === "hangup" || reason === "cancelled" ? "info" : "error";
  return [{ type: "stop_ringback" }, { type: "stop_media" }, ...ringEffects(s), notify(text, kind), render];
}

// ---------------------------------------------------------------- events

/** Applies one server event; returns the effects ([] for events that are not about calls). */
export function applyCallEvent(s, ev, now) {
  const handler = HANDLERS[ev.type];
  if (!handler || !ev.call || typeof ev.call.id !== "string") return [];
  return handler(s, ev, now);
}

const HANDLERS = {
  match_found(s, ev, now) {
    // A random match (meet_state.js keeps the peer's card): ours and live at once.
    if (sameCall(s.call, ev.call)) return [];
    return becameActive(s, ev.call, now);
  },
  call_incoming(s, ev) {
    if (sameCall(s.call, ev.call) || s.incoming.some((c) => c.id === ev.call.id)) return [];
    s.incoming.push(ev.call);
    return [...ringEffects(s), render];
  },
  call_state(s, ev, now) {
    const call = ev.call;
    if (sameCall(s.call, call)) {
      if (call.state === "active") return becameActive(s, call, now);
      if (call.state === "ended") return finish(s, call.reason);
      s.call = call;
      return [render];
    }
    // A call still ringing here that changed (it went live elsewhere, or ended).
    if (call.state !== "ringing" && dropIncoming(s, call.id)) return [...ringEffects(s), render];
    return [];
  },
  call_ended(s, ev) {
    const call = ev.call;
    const reason = ev.reason || call.reason;
    if (sameCall(s.call, call)) return finish(s, reason);
    if (!dropIncoming(s, call.id)) return [];
    const effects = [...ringEffects(s), render];
    if (reason === "cancelled" || reason === "no_answer") {
      effects.unshift(notify(endText(reason, { peer: call.caller, role: "callee" })));
    }
    return effects;
  },
};

// ---------------------------------------------------------------- our own requests' replies

/** `call` answered: ringing out, or (calling back someone whose call rang here) active. */
export function placed(s, call, now) {
  dropIncoming(s, call.id);
  if (call.state === "active") return becameActive(s, call, now);
  s.call = call;
  s.last = null;
  s.muted = false;
  s.cameraOn = true;
  return [...ringEffects(s), { type: "ringback" }, render];
}

/** `answer_call` answered: the call is ours and live. */
export function answered(s, call, now) {
  dropIncoming(s, call.id);
  return becameActive(s, call, now);
}

/** `decline_call` answered (no event tells the one who declined). */
export function declined(s, callId) {
  dropIncoming(s, callId);
  return [...ringEffects(s), render];
}

/** `hangup` answered: our call is over (the other side gets `call_ended`). */
export function hungUp(s, callId) {
  if (!s.call || s.call.id !== callId) return declined(s, callId);
  const ringing = s.call.state === "ringing";
  return finish(s, ringing ? "cancelled" : "hangup");
}

/** A call request failed with `no_such_call`: the call is gone, whatever we thought. */
export function forget(s, callId) {
  if (s.call && s.call.id === callId) return finish(s, null);
  return declined(s, callId);
}

/** After a reconnect, `list_calls`: the server's word on which of our calls are live. */
export function refreshed(s, calls, now) {
  const effects = [];
  const live = new Map(calls.map((c) => [c.id, c]));
  if (s.call && !live.has(s.call.id)) effects.push(...finish(s, "connection_lost"));
  else if (s.call) {
    const fresh = live.get(s.call.id);
    if (fresh.state === "active" && s.call.state !== "active") effects.push(...becameActive(s, fresh, now));
    else {
      s.call = fresh;
      // Our media went with the old connection: offer again for the same call.
      if (fresh.state === "active") effects.push({ type: "start_media", call: fresh });
    }
  }
  s.incoming = s.incoming.filter((c) => live.has(c.id) && live.get(c.id).state === "ringing");
  return [...effects, ...ringEffects(s), render];
}

export function setMuted(s, muted) {
  s.muted = Boolean(muted);
  return [{ type: "mute", muted: s.muted }, render];
}

export function setCamera(s, on) {
  if (!isVideo(s)) return [];
  s.cameraOn = Boolean(on);
  return [{ type: "camera", on: s.cameraOn }, render];
}

export function signedIn(s, me) {
  Object.assign(s, callState(me));
}
