// The page's controller: session, lobby, room state kept in step with the server's events,
// the room's audio, and reconnection. Rendering lives in ui.js, the wire in protocol.js.

import { Connection, ProtocolError, describeError, socketUrl, userIdFor } from "./protocol.js";
import { MediaLink } from "./media.js";
import * as ui from "./ui.js";

const ROOM_LIST_REFRESH_MS = 5000;
const RECONNECT_DELAYS_MS = [500, 1000, 2000, 4000, 5000];
const SESSION_KEY = "voiceroom.session";

// Codes after which our picture of the room may be stale: re-read it.
const RESYNC_CODES = new Set([
  "forbidden",
  "wrong_mode",
  "no_such_seat",
  "seat_locked",
  "seat_taken",
  "seats_full",
  "already_seated",
  "not_seated",
  "already_requested",
  "no_such_request",
]);
// Codes after which we are no longer in the room at all.
const GONE_CODES = new Set(["no_such_room", "not_in_room", "banned"]);

const CLOSE_REASONS = {
  host_left: "The host left, so the room has ended.",
  closed: "The host ended the room.",
};

const app = {
  conn: null,
  session: { user: null, name: null, token: null },
  server: null,
  roomId: null,
  room: null,
  role: null,
  members: new Map(),
  myRequest: null,
  invite: null,
  levels: new Map(),
  rooms: [],
  replaced: false,
  reconnecting: false,
  signingOut: false,
  leavingSeat: false,
  movingTo: null,
  audioState: "closed",
  audioError: null,
  listTimer: null,
  media: null,
  nameOf(user) {
    if (!user) return "Someone";
    if (app.session.user === user) return "You";
    const room = app.room;
    if (room) {
      if (room.host.user === user) return room.host.name || user;
      const seat = room.seats.find((s) => s.user === user);
      if (seat) return seat.name || user;
    }
    const member = app.members.get(user);
    return (member && member.name) || user;
  },
};
// A handle for debugging from the console and for the browser tests.
window.voiceroom = app;

// ---------------------------------------------------------------- session

function saveSession() {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(app.session));
}

function loadSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
    if (s && (s.token || (s.user && s.name))) return s;
  } catch {
    /* a broken entry means signing in again */
  }
  return null;
}

async function connect() {
  const conn = new Connection(socketUrl());
  await conn.open();
  const params = app.session.token ? { token: app.session.token } : { user: app.session.user, name: app.session.name };
  let reply;
  try {
    reply = await conn.request("hello", params);
  } catch (err) {
    conn.close();
    throw err;
  }
  app.conn = conn;
  app.session.user = reply.user;
  app.session.name = reply.name;
  app.server = reply.server || null;
  conn.on("*", onEvent);
  conn.onClose(onConnectionLost);
  setConnection("online");
}

async function signIn(session) {
  app.session = { ...session };
  ui.renderIdentity(null);
  try {
    await connect();
  } catch (err) {
    let text = describeError(err);
    if (err instanceof ProtocolError && err.code === "not_authenticated") {
      text = session.token
        ? "The server refused this token (bad or expired). Ask for a new one."
        : "This server requires a sign-in token: paste one below.";
      document.getElementById("token-box").open = true;
    }
    document.getElementById("signin-error").textContent = text;
    sessionStorage.removeItem(SESSION_KEY);
    setConnection("offline");
    ui.showView("signin");
    return;
  }
  document.getElementById("signin-error").textContent = "";
  saveSession();
  ui.renderIdentity(app.session);
  document.getElementById("sign-out").hidden = false;
  const wanted = roomFromHash();
  if (wanted) await joinRoom(wanted);
  else showLobby();
}

function signOut() {
  app.signingOut = true;
  leaveRoomLocally();
  if (app.conn) app.conn.close();
  app.conn = null;
  app.signingOut = false;
  app.session = { user: null, name: null, token: null };
  sessionStorage.removeItem(SESSION_KEY);
  document.getElementById("sign-out").hidden = true;
  ui.renderIdentity(null);
  setConnection("offline");
  stopRoomList();
  ui.showView("signin");
}

function setConnection(state) {
  const el = document.getElementById("connection");
  el.dataset.state = state;
  el.textContent = { online: "online", offline: "offline", reconnecting: "reconnecting…" }[state] || state;
}

// ---------------------------------------------------------------- reconnection

function onConnectionLost() {
  if (app.signingOut || app.replaced) return;
  setConnection("reconnecting");
  ui.setBanner("Connection lost. Reconnecting…");
  if (app.media) app.media.stop();
  reconnect();
}

async function reconnect() {
  if (app.reconnecting) return;
  app.reconnecting = true;
  for (let attempt = 0; ; attempt++) {
    await sleep(RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)]);
    if (!app.session.user && !app.session.token) {
      // Signed out while we waited.
      app.reconnecting = false;
      ui.setBanner(null);
      return;
    }
    try {
      await connect();
    } catch (err) {
      if (err instanceof ProtocolError && err.code === "not_authenticated") {
        app.reconnecting = false;
        ui.setBanner(null);
        signOut();
        document.getElementById("signin-error").textContent = "Your sign-in is no longer accepted. Sign in again.";
        return;
      }
      continue;
    }
    break;
  }
  app.reconnecting = false;
  ui.setBanner(null);
  if (app.roomId) {
    // join_room again takes a held seat back within the grace period.
    await joinRoom(app.roomId, { rejoin: true });
  } else {
    showLobby();
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------- lobby

function showLobby() {
  ui.showView("lobby");
  refreshRooms();
  stopRoomList();
  app.listTimer = setInterval(refreshRooms, ROOM_LIST_REFRESH_MS);
}

function stopRoomList() {
  if (app.listTimer) clearInterval(app.listTimer);
  app.listTimer = null;
}

async function refreshRooms() {
  if (!app.conn || !app.conn.isOpen) return;
  try {
    const reply = await app.conn.request("list_rooms", { limit: 50 });
    app.rooms = reply.rooms || [];
    ui.renderRoomList(app.rooms, { join: (id) => joinRoom(id) });
  } catch (err) {
    if (err.code !== "disconnected") ui.notify(describeError(err), "error");
  }
}

async function createRoom(form) {
  const data = new FormData(form);
  const params = {
    title: String(data.get("title") || "").trim(),
    seats: Number(data.get("seats")),
    seat_mode: data.get("seat_mode"),
    auto_chatroom_at: Number(data.get("auto_chatroom_at")),
  };
  if (!params.title) {
    ui.notify("Give the room a title.", "error");
    return;
  }
  try {
    const reply = await app.conn.request("create_room", params);
    form.reset();
    enterRoom(reply.room, "host");
  } catch (err) {
    ui.notify(describeError(err), "error");
  }
}

function roomFromHash() {
  const m = /(?:^#|&)room=([^&]+)/.exec(window.location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

function setHash(roomId) {
  const target = roomId ? `#room=${encodeURIComponent(roomId)}` : " ";
  if (window.location.hash !== target) history.replaceState(null, "", target === " " ? window.location.pathname : target);
}

// ---------------------------------------------------------------- room

async function joinRoom(roomId, { rejoin = false } = {}) {
  try {
    const reply = await app.conn.request("join_room", { room: roomId });
    if (rejoin && app.roomId === roomId && app.room) {
      applyState(reply.room, reply.role);
      startMedia(true);
      ui.notify("Reconnected.");
    } else {
      enterRoom(reply.room, reply.role);
    }
  } catch (err) {
    ui.notify(describeError(err), "error");
    if (rejoin || app.roomId === roomId) leaveRoomLocally();
    setHash(null);
    showLobby();
  }
}

function enterRoom(state, role) {
  stopRoomList();
  leaveRoomLocally();
  app.roomId = state.id;
  app.members = new Map();
  app.levels = new Map();
  ui.clearChat();
  applyState(state, role);
  setHash(state.id);
  ui.showView("room");
  startMedia(true);
}

/** Takes a full RoomState (join reply, room_state event, or a re-read). */
function applyState(state, role) {
  app.room = state;
  document.title = `${state.title} · Voice rooms`;
  if (role) app.role = role;
  else app.role = roleIn(state);
  if (!state.queue) state.queue = [];
  // What state tells us about members: the host, admins, seated users, requesters.
  const known = app.members;
  known.set(state.host.user, { user: state.host.user, name: state.host.name, role: "host" });
  for (const s of state.seats) if (s.user && !known.has(s.user)) known.set(s.user, { user: s.user, name: s.name, role: "audience" });
  for (const q of state.queue) if (!known.has(q.user)) known.set(q.user, { user: q.user, name: q.name, role: "audience" });
  for (const a of state.admins) if (!known.has(a)) known.set(a, { user: a, name: a, role: "admin" });
  if (mySeat()) app.myRequest = null;
  render();
  syncMedia();
}

function roleIn(state) {
  const me = app.session.user;
  if (state.host.user === me) return "host";
  if (state.admins.includes(me)) return "admin";
  return "audience";
}

function isModerator() {
  return app.role === "host" || app.role === "admin";
}

function mySeat() {
  if (!app.room) return null;
  return app.room.seats.find((s) => s.user === app.session.user) || null;
}

function isSpeaker() {
  return Boolean(app.room && (app.room.host.user === app.session.user || mySeat()));
}

function render() {
  ui.renderRoom(app, actions);
  showAudioStatus();
}

/** Drops our local picture of the room (the server side is handled by the caller). */
function leaveRoomLocally() {
  if (app.media) app.media.stop();
  app.roomId = null;
  app.room = null;
  app.role = null;
  app.myRequest = null;
  app.invite = null;
  app.movingTo = null;
  app.members = new Map();
  app.levels = new Map();
  ui.setMicProblem(null);
  app.audioState = "closed";
  showAudioStatus();
}

function backToLobby(message, kind = "info") {
  leaveRoomLocally();
  document.title = "Voice rooms";
  setHash(null);
  if (message) ui.notify(message, kind);
  showLobby();
}

// ---------------------------------------------------------------- media

function ensureMedia() {
  if (app.media) return app.media;
  app.media = new MediaLink({
    audio: document.getElementById("room-audio"),
    sendOffer: async (sdp) => {
      const roomId = app.roomId;
      const reply = await app.conn.request("webrtc_offer", { room: roomId, sdp });
      return reply.sdp;
    },
    onStatus: (state, err) => {
      app.audioState = state;
      app.audioError = err || null;
      showAudioStatus();
    },
    onMicProblem: (text) => {
      ui.setMicProblem(text);
      showAudioStatus();
    },
  });
  return app.media;
}

function showAudioStatus() {
  const state = app.audioState;
  let text;
  if (state === "connected") {
    if (!isSpeaker()) text = "Sound on";
    else if (app.media && app.media.wantSend && !app.media.micStream) text = "Sound on, but your microphone is off";
    else text = "Sound on: you are live";
  } else if (state === "failed") {
    text = app.audioError ? `Sound failed: ${describeError(app.audioError)}` : "Sound connection failed, retrying…";
  } else {
    text = { connecting: "Connecting sound…", closed: "Sound off", blocked: "The browser blocked playback." }[state] || state;
  }
  ui.setAudioStatus(state, text);
  const micOff = state === "connected" && isSpeaker() && app.media && app.media.wantSend && !app.media.micStream;
  document.getElementById("audio-status").dataset.mic = micOff ? "off" : "on";
}

function startMedia(fresh) {
  if (!app.room) return;
  const media = ensureMedia();
  media.setMicEnabled(!mySelfMuted());
  if (fresh || !media.active) media.start(isSpeaker());
  else media.setSending(isSpeaker());
}

function syncMedia() {
  if (!app.media || !app.media.active || !app.room) return;
  app.media.setMicEnabled(!mySelfMuted());
  app.media.setSending(isSpeaker());
  if (!isSpeaker()) ui.setMicProblem(null);
}

function mySelfMuted() {
  const room = app.room;
  if (!room) return false;
  if (room.host.user === app.session.user) return Boolean(room.host.self_muted);
  const seat = mySeat();
  return Boolean(seat && seat.self_muted);
}

// ---------------------------------------------------------------- events

function onEvent(ev) {
  if (ev.type === "error") {
    // An error with no id: the server could not tie it to a request.
    ui.notify(describeError(new ProtocolError(ev.code, ev.message)), "error");
    return;
  }
  if (!app.room || ev.room !== app.roomId) return;
  const handler = EVENT_HANDLERS[ev.type];
  if (handler) handler(ev);
}

const EVENT_HANDLERS = {
  room_state(ev) {
    applyState(ev.state);
    // The room's media may have moved to another node: offer again if its audio stopped.
    if (app.media && app.media.active) app.media.restartIfStalled();
    else startMedia(true);
  },
  audience_changed(ev) {
    app.room.audience_count = ev.count;
    render();
  },
  role_changed(ev) {
    const room = app.room;
    room.admins = room.admins.filter((u) => u !== ev.user);
    if (ev.role === "admin") room.admins.push(ev.user);
    const member = app.members.get(ev.user);
    if (member) member.role = ev.role;
    if (ev.user === app.session.user) {
      const was = app.role;
      app.role = ev.role;
      if (ev.role === "admin" && was !== "admin") {
        ui.notify("You are now an admin of this room.");
        resync(); // admins see the queue: read it
      } else if (ev.role !== "admin" && was === "admin") {
        ui.notify("You are no longer an admin.");
      }
    }
    render();
  },
  member_joined(ev) {
    app.members.set(ev.user, { user: ev.user, name: ev.name, role: ev.role });
    render();
  },
  member_left(ev) {
    app.members.delete(ev.user);
    app.room.queue = app.room.queue.filter((q) => q.user !== ev.user);
    render();
  },
  mic_requested(ev) {
    const queue = app.room.queue;
    if (!queue.some((q) => q.user === ev.user)) queue.push({ user: ev.user, name: ev.name, at: Date.now() / 1000, note: ev.note });
    if (!app.members.has(ev.user)) app.members.set(ev.user, { user: ev.user, name: ev.name, role: "audience" });
    // Requests handled elsewhere (another admin) leave no event here: a position that
    // does not match ours means our list drifted.
    if (ev.position !== undefined && ev.position !== queue.findIndex((q) => q.user === ev.user) + 1) resync();
    render();
  },
  mic_request_cancelled(ev) {
    app.room.queue = app.room.queue.filter((q) => q.user !== ev.user);
    render();
  },
  mic_accepted(ev) {
    app.myRequest = null;
    ui.notify(`You are on seat ${ev.seat + 1}: your microphone is live.`);
    render();
  },
  mic_rejected() {
    app.myRequest = null;
    ui.notify("Your mic request was declined.");
    render();
  },
  seat_changed(ev) {
    const seat = ev.seat;
    const before = mySeat();
    // switch_seat frees the old seat first, then fills the new one: the moment between the
    // two events is not a trip back to the audience.
    const between = app.movingTo !== null && before && before.index === seat.index && seat.user !== app.session.user;
    const seats = app.room.seats;
    const at = seats.findIndex((s) => s.index === seat.index);
    if (at >= 0) seats[at] = seat;
    else {
      seats.push(seat);
      seats.sort((a, b) => a.index - b.index);
    }
    if (seat.user) {
      app.room.queue = app.room.queue.filter((q) => q.user !== seat.user);
      if (!app.members.has(seat.user)) app.members.set(seat.user, { user: seat.user, name: seat.name, role: "audience" });
    }
    const after = mySeat();
    if (after && after.index === app.movingTo) app.movingTo = null;
    if (between) {
      render();
      return;
    }
    if (after) {
      app.myRequest = null;
      if (app.invite) app.invite = null;
    }
    if (before && !after && before.index === seat.index && !app.room.seats.some((s) => s.user === app.session.user)) {
      if (!app.leavingSeat) ui.notify("You are back in the audience.");
    }
    app.leavingSeat = false;
    render();
    syncMedia();
  },
  mode_changed(ev) {
    const wasSeated = Boolean(mySeat());
    app.room.mode = ev.mode;
    app.room.seats = ev.seats;
    if (ev.auto) ui.notify("Lots of hands up: the room is now a chatroom.");
    else ui.notify(ev.mode === "chatroom" ? "The room is now a chatroom." : "The room is back to a voice live.");
    if (wasSeated && !mySeat()) ui.notify("You are back in the audience.");
    render();
    syncMedia();
  },
  seat_invited(ev) {
    app.invite = { seat: ev.seat, by: ev.by };
    ui.notify(`${app.nameOf(ev.by)} invites you to seat ${ev.seat + 1}.`);
    render();
  },
  speaking(ev) {
    for (const [user, level] of Object.entries(ev.levels || {})) app.levels.set(user, Number(level) || 0);
    ui.updateSpeaking(app);
  },
  chat_message(ev) {
    ui.appendChat(ev, ev.user === app.session.user);
  },
  kicked(ev) {
    const text =
      ev.reason === "banned"
        ? "You were banned from the room."
        : !ev.reason || ev.reason === "kicked"
          ? "You were removed from the room."
          : `You were removed from the room (${ev.reason}).`;
    backToLobby(text, "error");
  },
  replaced() {
    app.replaced = true;
    const roomId = app.roomId;
    if (app.media) app.media.stop();
    setConnection("offline");
    ui.setBanner("This room is open in another tab or device, so this page was disconnected.", {
      label: "Use it here",
      run: async () => {
        app.replaced = false;
        ui.setBanner("Reconnecting…");
        try {
          await connect();
        } catch (err) {
          ui.setBanner(describeError(err));
          return;
        }
        ui.setBanner(null);
        await joinRoom(roomId, { rejoin: true });
      },
    });
  },
  room_closed(ev) {
    backToLobby(CLOSE_REASONS[ev.reason] || `The room has ended${ev.reason ? ` (${ev.reason})` : ""}.`);
  },
};

/** Re-reads the room (join_room by a member changes nothing and returns the state). */
async function resync() {
  if (!app.roomId || !app.conn || !app.conn.isOpen) return;
  const roomId = app.roomId;
  try {
    const reply = await app.conn.request("join_room", { room: roomId });
    if (app.roomId === roomId) applyState(reply.room, reply.role);
  } catch (err) {
    if (GONE_CODES.has(err.code) && app.roomId === roomId) backToLobby(describeError(err), "error");
  }
}

// ---------------------------------------------------------------- actions

/** Sends a room request; shows a clear message and re-reads the room if it fails. */
async function roomRequest(type, params = {}) {
  const roomId = app.roomId;
  if (!roomId) return null;
  try {
    return await app.conn.request(type, { room: roomId, ...params });
  } catch (err) {
    ui.notify(describeError(err), "error");
    if (app.roomId !== roomId) return null;
    if (GONE_CODES.has(err.code)) backToLobby();
    else if (RESYNC_CODES.has(err.code)) resync();
    return null;
  }
}

const actions = {
  async requestMic() {
    const reply = await roomRequest("request_mic");
    if (reply) {
      // In a free room or with auto-accept the seat may already be ours.
      if (!mySeat()) app.myRequest = { position: reply.position };
      render();
    }
  },
  async cancelMic() {
    const reply = await roomRequest("cancel_mic_request");
    if (reply) {
      app.myRequest = null;
      render();
    }
  },
  async acceptMic(user) {
    await roomRequest("accept_mic", { user });
  },
  async rejectMic(user) {
    const reply = await roomRequest("reject_mic", { user });
    if (reply) {
      app.room.queue = app.room.queue.filter((q) => q.user !== user);
      render();
    }
  },
  async takeSeat(seat) {
    await roomRequest("take_seat", { seat });
  },
  async switchSeat(seat) {
    // The reply comes before the two seat_changed events it causes.
    const reply = await roomRequest("switch_seat", { seat });
    if (reply && mySeat()) app.movingTo = reply.seat ?? seat;
  },
  async leaveSeat() {
    app.leavingSeat = true;
    const reply = await roomRequest("leave_seat");
    if (!reply) app.leavingSeat = false;
  },
  async answerInvite(accept) {
    const reply = await roomRequest("answer_invite", { accept });
    app.invite = null;
    if (reply !== null) render();
  },
  async selfMute(muted) {
    const reply = await roomRequest(muted ? "mute" : "unmute");
    if (reply && app.room.host.user === app.session.user) {
      // The host has no seat: no seat_changed tells us; mirror the reply.
      app.room.host.self_muted = muted;
      render();
      syncMedia();
    }
  },
  async seatMute(seat, muted) {
    await roomRequest(muted ? "mute_seat" : "unmute_seat", { seat });
  },
  async seatLock(seat, locked) {
    await roomRequest(locked ? "lock_seat" : "unlock_seat", { seat });
  },
  async seatKick(seat) {
    await roomRequest("kick_seat", { seat });
  },
  async invite(user) {
    const reply = await roomRequest("invite_to_seat", { user });
    if (reply) ui.notify(`Invited ${app.nameOf(user)} to a seat.`);
  },
  async kickMember(user, ban) {
    const name = app.nameOf(user);
    if (ban && !window.confirm(`Ban ${name} from this room?`)) return;
    const reply = await roomRequest("kick_member", { user, ban });
    if (reply) {
      app.members.delete(user);
      ui.notify(ban ? `${name} is banned.` : `${name} was removed.`);
      render();
    }
  },
  async setAdmin(user, admin) {
    await roomRequest("set_admin", { user, admin });
  },
  async openChatroom() {
    const reply = await roomRequest("open_chatroom");
    if (reply && reply.room) applyState(reply.room);
  },
  async closeChatroom() {
    const reply = await roomRequest("close_chatroom");
    if (reply && reply.room) applyState(reply.room);
  },
  async closeRoom() {
    if (!window.confirm("End the room for everyone?")) return;
    const reply = await roomRequest("close_room");
    if (reply) backToLobby("You ended the room.");
  },
  async leaveRoom() {
    const isHost = app.room && app.room.host.user === app.session.user;
    if (isHost && !window.confirm("You are the host: leaving ends the room for everyone. Leave?")) return;
    const roomId = app.roomId;
    try {
      await app.conn.request("leave_room", { room: roomId });
    } catch (err) {
      if (!GONE_CODES.has(err.code)) ui.notify(describeError(err), "error");
    }
    backToLobby();
  },
  async chat(text) {
    return roomRequest("chat", { text });
  },
};

// ---------------------------------------------------------------- wiring

function wire() {
  document.getElementById("signin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const data = new FormData(ev.target);
    const token = String(data.get("token") || "").trim();
    const name = String(data.get("name") || "").trim();
    if (token) {
      signIn({ token, user: null, name: null });
    } else if (name) {
      signIn({ user: userIdFor(name), name, token: null });
    } else {
      document.getElementById("signin-error").textContent = "Enter a display name (or paste a token).";
    }
  });
  document.getElementById("sign-out").addEventListener("click", async () => {
    if (app.roomId && app.conn && app.conn.isOpen) {
      try {
        await app.conn.request("leave_room", { room: app.roomId });
      } catch {
        /* leaving anyway */
      }
    }
    setHash(null);
    signOut();
  });
  document.getElementById("create-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    createRoom(ev.target);
  });
  document.getElementById("refresh-rooms").addEventListener("click", refreshRooms);
  document.getElementById("leave-room").addEventListener("click", actions.leaveRoom);
  document.getElementById("chat-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = ev.target.elements.text;
    const text = input.value.trim();
    if (!text) return;
    const reply = await actions.chat(text);
    if (reply) input.value = "";
  });
  document.getElementById("enable-sound").addEventListener("click", () => {
    const audio = document.getElementById("room-audio");
    audio.play().then(
      () => ui.setAudioStatus("connected", "Sound on"),
      () => ui.notify("The browser still blocks sound.", "error"),
    );
  });
  document.getElementById("retry-mic").addEventListener("click", () => {
    if (app.media) app.media.retryMicrophone();
  });
  window.addEventListener("hashchange", () => {
    const wanted = roomFromHash();
    if (wanted && wanted !== app.roomId && app.conn && app.conn.isOpen) joinRoom(wanted);
  });
}

wire();
const saved = loadSession();
if (saved) signIn(saved);
else ui.showView("signin");
