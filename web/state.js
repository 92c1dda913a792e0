// The page's room state, pure: events in, state out. No DOM, no socket, no timers, so it runs
// (and is tested, web/state.test.mjs) under node as well as in the page. A handler changes the
// state and returns the effects the page must then carry out (render, notify, re-read the
// room, leave it, ...); room.js carries them out. The calls, matching and props views get
// state modules of their own, next to this one.

/** The room part of the page's state; `session` is {user, name, token}. */
export function roomState(session = { user: null, name: null, token: null }) {
  return {
    session,
    roomId: null,
    room: null,
    role: null,
    members: new Map(),
    myRequest: null,
    invite: null,
    levels: new Map(),
    leavingSeat: false,
    movingTo: null,
    // Paging of `list_members` (moderators' listeners panel): the next page's cursor, or null.
    memberCursor: null,
    membersListed: false,
  };
}

// ---------------------------------------------------------------- reading the state

export function nameOf(s, user) {
  if (!user) return "Someone";
  if (s.session.user === user) return "You";
  const room = s.room;
  if (room) {
    if (room.host.user === user) return room.host.name || user;
    const seat = room.seats.find((seat) => seat.user === user);
    if (seat) return seat.name || user;
  }
  const member = s.members.get(user);
  return (member && member.name) || user;
}

export function roleIn(s, room) {
  const me = s.session.user;
  if (room.host.user === me) return "host";
  if (room.admins.includes(me)) return "admin";
  return "audience";
}

export function isModerator(s) {
  return s.role === "host" || s.role === "admin";
}

export function mySeat(s) {
  if (!s.room) return null;
  return s.room.seats.find((seat) => seat.user === s.session.user) || null;
}

export function isSpeaker(s) {
  return Boolean(s.room && (s.room.host.user === s.session.user || mySeat(s)));
}

/** "a free seat" or "seat N" (seats are shown 1-based) for an invitation. */
export function inviteText(s) {
  if (!s.invite) return "";
  const where = s.invite.seat === null || s.invite.seat === undefined ? "a free seat" : `seat ${s.invite.seat + 1}`;
  return `${nameOf(s, s.invite.by)} invites you to ${where}.`;
}

/** How many wait for the mic: the queue itself for moderators, its length for the rest. */
export function queueLength(s) {
  if (!s.room) return 0;
  if (isModerator(s) && Array.isArray(s.room.queue)) return s.room.queue.length;
  return Number(s.room.queue_length) || 0;
}

/**
 * What the user's microphone really does, for the mic button:
 * "none" (not a speaker), "host-muted" (the seat is muted: nobody hears it, whatever the
 * switch), "denied" (the browser gave no microphone), "off" (the user's own switch), "live".
 */
export function micState(s, { micDenied = false } = {}) {
  if (!isSpeaker(s)) return "none";
  const seat = mySeat(s);
  if (seat && seat.muted) return "host-muted";
  if (micDenied) return "denied";
  return mySelfMuted(s) ? "off" : "live";
}

export function mySelfMuted(s) {
  const room = s.room;
  if (!room) return false;
  if (room.host.user === s.session.user) return Boolean(room.host.self_muted);
  const seat = mySeat(s);
  return Boolean(seat && seat.self_muted);
}

// ---------------------------------------------------------------- whole-room changes

/** Forgets the room (the server side is the caller's business). */
export function clearRoom(s) {
  s.roomId = null;
  s.room = null;
  s.role = null;
  s.myRequest = null;
  s.invite = null;
  s.movingTo = null;
  s.members = new Map();
  s.levels = new Map();
  s.memberCursor = null;
  s.membersListed = false;
}

/** Entering a room afresh: its state from a join or create reply. */
export function enterRoom(s, room, role) {
  clearRoom(s);
  s.roomId = room.id;
  applyRoomState(s, room, role);
}

/** Takes a full RoomState (join reply, room_state event, or a re-read). */
export function applyRoomState(s, room, role) {
  s.room = room;
  s.role = role || roleIn(s, room);
  if (!room.queue) room.queue = [];
  // What the state tells us about members: the host, admins, seated users, requesters.
  const known = s.members;
  known.set(room.host.user, { user: room.host.user, name: room.host.name, role: "host" });
  for (const seat of room.seats) {
    if (seat.user && !known.has(seat.user)) known.set(seat.user, { user: seat.user, name: seat.name, role: "audience" });
  }
  for (const q of room.queue) if (!known.has(q.user)) known.set(q.user, { user: q.user, name: q.name, role: "audience" });
  for (const a of room.admins) if (!known.has(a)) known.set(a, { user: a, name: a, role: "admin" });
  if (mySeat(s)) s.myRequest = null;
}

/** A page of `list_members`: everyone in it becomes known; `cursor` is the next page's. */
export function membersListed(s, reply) {
  for (const m of reply.members || []) {
    if (!m || !m.user) continue;
    s.members.set(m.user, { user: m.user, name: m.name || m.user, role: m.role || "audience", away: Boolean(m.away) });
  }
  s.memberCursor = reply.cursor || null;
  s.membersListed = true;
}

// ---------------------------------------------------------------- events

const CLOSE_REASONS = {
  host_left: "The host left, so the room has ended.",
  closed: "The host ended the room.",
};

const render = { type: "render" };
const syncMedia = { type: "sync_media" };
const resync = { type: "resync" };
// `key`: a notice about a state that may end (an invitation, a muted seat, a request
// waiting); `clear(key)` takes it away when its cause is gone.
const notify = (text, kind = "info", extra = {}) => ({ type: "notify", text, kind, ...extra });
const clear = (key) => ({ type: "clear_notice", key });
const MUTED_SEAT_TEXT = "The host has muted this seat: nobody hears you until they unmute it.";

/** Applies one server event of the current room; returns the effects, [] for other rooms. */
export function applyEvent(s, ev) {
  if (!s.room || ev.room !== s.roomId) return [];
  const handler = EVENT_HANDLERS[ev.type];
  return handler ? handler(s, ev) : [];
}

const EVENT_HANDLERS = {
  room_state(s, ev) {
    applyRoomState(s, ev.state);
    // The room's media may have moved to another node: the page checks its audio.
    return [{ type: "state_shown" }, { type: "media_check" }];
  },
  audience_changed(s, ev) {
    s.room.audience_count = ev.count;
    if (typeof ev.queue === "number") s.room.queue_length = ev.queue;
    return [render];
  },
  role_changed(s, ev) {
    const room = s.room;
    const effects = [];
    room.admins = room.admins.filter((u) => u !== ev.user);
    if (ev.role === "admin") room.admins.push(ev.user);
    const member = s.members.get(ev.user);
    if (member) member.role = ev.role;
    if (ev.user === s.session.user) {
      const was = s.role;
      s.role = ev.role;
      if (ev.role === "admin" && was !== "admin") {
        effects.push(notify("You are now an admin of this room."), resync); // admins see the queue
      } else if (ev.role !== "admin" && was === "admin") {
        effects.push(notify("You are no longer an admin."));
      }
    }
    return [...effects, render];
  },
  member_joined(s, ev) {
    s.members.set(ev.user, { user: ev.user, name: ev.name, role: ev.role });
    return [{ type: "presence", user: ev.user, name: ev.name || ev.user, joined: true }, render];
  },
  member_left(s, ev) {
    const name = nameOf(s, ev.user);
    s.members.delete(ev.user);
    s.room.queue = s.room.queue.filter((q) => q.user !== ev.user);
    return [{ type: "presence", user: ev.user, name, joined: false }, clear(`mic-request:${ev.user}`), render];
  },
  mic_requested(s, ev) {
    const queue = s.room.queue;
    if (!queue.some((q) => q.user === ev.user)) queue.push({ user: ev.user, name: ev.name, at: Date.now() / 1000, note: ev.note });
    if (!s.members.has(ev.user)) s.members.set(ev.user, { user: ev.user, name: ev.name, role: "audience" });
    // Requests handled elsewhere (another admin) leave no event here: a position that
    // does not match ours means our list drifted.
    const drifted = ev.position !== undefined && ev.position !== queue.findIndex((q) => q.user === ev.user) + 1;
    // The host or an admin is told at once, with the answer at hand (the queue may be far
    // below, on a phone); a newer request's notice replaces it.
    const text = `${ev.name || ev.user} asks for the mic${ev.note ? `: “${ev.note}”` : "."}`;
    const ask = notify(text, "request", {
      key: `mic-request:${ev.user}`,
      actions: [
        { label: "Accept", action: "acceptMic", arg: ev.user, primary: true },
        { label: `Queue (${queue.length})`, action: "showQueue" },
      ],
    });
    return drifted ? [ask, resync, render] : [ask, render];
  },
  mic_request_cancelled(s, ev) {
    s.room.queue = s.room.queue.filter((q) => q.user !== ev.user);
    return [clear(`mic-request:${ev.user}`), render];
  },
  mic_accepted(s, ev) {
    s.myRequest = null;
    const seat = s.room.seats.find((x) => x.index === ev.seat);
    // `muted` belongs to the seat and stays: say so, or the newcomer talks to nobody.
    if (seat && seat.muted) return [notify(`You are on seat ${ev.seat + 1}. ${MUTED_SEAT_TEXT}`, "warn", { key: "seat-muted" }), render];
    return [notify(`You are on seat ${ev.seat + 1}: your microphone is live.`), render];
  },
  mic_rejected(s) {
    s.myRequest = null;
    return [notify("Your mic request was declined."), render];
  },
  seat_changed(s, ev) {
    const seat = ev.seat;
    const me = s.session.user;
    const before = mySeat(s);
    // switch_seat frees the old seat first, then fills the new one: the moment between the
    // two events is not a trip back to the audience.
    const between = s.movingTo !== null && before && before.index === seat.index && seat.user !== me;
    const seats = s.room.seats;
    const at = seats.findIndex((x) => x.index === seat.index);
    if (at >= 0) seats[at] = seat;
    else {
      seats.push(seat);
      seats.sort((a, b) => a.index - b.index);
    }
    if (seat.user) {
      s.room.queue = s.room.queue.filter((q) => q.user !== seat.user);
      if (!s.members.has(seat.user)) s.members.set(seat.user, { user: seat.user, name: seat.name, role: "audience" });
    }
    const after = mySeat(s);
    if (after && after.index === s.movingTo) s.movingTo = null;
    if (between) return [render];
    const effects = [];
    if (after) {
      s.myRequest = null;
      if (s.invite) effects.push(clear("invite"));
      s.invite = null;
    }
    if (before && !after && before.index === seat.index && !s.room.seats.some((x) => x.user === me)) {
      if (!s.leavingSeat) effects.push(notify("You are back in the audience."));
    }
    s.leavingSeat = false;
    if (after && after.index === seat.index) {
      const arrived = !before || before.index !== after.index;
      if (after.muted && (arrived || !before.muted)) {
        effects.push(notify(arrived ? `You are on seat ${after.index + 1}. ${MUTED_SEAT_TEXT}` : MUTED_SEAT_TEXT, "warn", { key: "seat-muted" }));
      } else if (!after.muted && before && before.muted) {
        effects.push(clear("seat-muted"), notify("The host unmuted your seat: you are heard again."));
      }
    } else if (before && !after && before.muted) {
      effects.push(clear("seat-muted"));
    }
    return [...effects, render, syncMedia];
  },
  mode_changed(s, ev) {
    const wasSeated = Boolean(mySeat(s));
    s.room.mode = ev.mode;
    s.room.seats = ev.seats;
    const effects = [];
    if (ev.auto) effects.push(notify("Lots of hands up: the room is now a chatroom."));
    else effects.push(notify(ev.mode === "chatroom" ? "The room is now a chatroom." : "The room is back to a voice live."));
    if (wasSeated && !mySeat(s)) effects.push(notify("You are back in the audience."));
    return [...effects, render, syncMedia];
  },
  seat_invited(s, ev) {
    // `seat: null`: any free seat (the server picks one when the invitation is accepted).
    s.invite = { seat: ev.seat ?? null, by: ev.by };
    return [notify(inviteText(s), "info", { key: "invite" }), render];
  },
  speaking(s, ev) {
    for (const [user, level] of Object.entries(ev.levels || {})) s.levels.set(user, Number(level) || 0);
    return [{ type: "speaking" }];
  },
  recording_changed(s, ev) {
    // The state's `recording` ({id, started_at, by}) comes whole with the next room state.
    if (ev.active) s.room.recording = { ...(s.room.recording || {}), by: ev.by };
    else delete s.room.recording;
    const text = ev.active ? "This room is being recorded." : "The recording has stopped.";
    return [notify(text, "info", { key: "recording" }), render];
  },
  recording_error(s, ev) {
    return [notify(`Recording stopped: ${ev.message || ev.reason}`, "error"), render];
  },
  chat_message(s, ev) {
    return [{ type: "chat", message: ev, mine: ev.user === s.session.user }];
  },
  kicked(s, ev) {
    const text =
      ev.reason === "banned"
        ? "You were banned from the room."
        : !ev.reason || ev.reason === "kicked"
          ? "You were removed from the room."
          : `You were removed from the room (${ev.reason}).`;
    return [{ type: "leave", text, kind: "error" }];
  },
  replaced() {
    return [{ type: "replaced" }];
  },
  room_closed(s, ev) {
    const text = CLOSE_REASONS[ev.reason] || `The room has ended${ev.reason ? ` (${ev.reason})` : ""}.`;
    return [{ type: "leave", text, kind: "info" }];
  },
};

// ---------------------------------------------------------------- our own requests' replies

/** After `request_mic`: in a free room or with auto-accept the seat may already be ours. */
export function micRequested(s, reply) {
  if (!mySeat(s)) s.myRequest = { position: reply.position };
}

/** After `reject_mic`: the request is gone (no event tells the one who rejected it). */
export function micRejected(s, user) {
  s.room.queue = s.room.queue.filter((q) => q.user !== user);
}

/** After our own mute or unmute as host: the host has no seat, so no seat_changed tells us. */
export function hostSelfMuted(s, muted) {
  if (s.room && s.room.host.user === s.session.user) {
    s.room.host.self_muted = muted;
    return true;
  }
  return false;
}
