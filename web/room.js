// Being in a room: entering and leaving it, its audio, the server's events carried out
// (state.js says what changed and what follows; this does the following), re-reading it.

import { ProtocolError, describeError } from "./protocol.js";
import { MediaLink } from "./media.js";
import { app } from "./context.js";
import { forgetRoom, showLobby, stopRoomList } from "./lobby.js";
import { renderPropsPanels } from "./props.js";
import { renderRoom, updateSpeaking } from "./room_view.js";
import * as state from "./state.js";
import * as ui from "./ui.js";

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
export const GONE_CODES = new Set(["no_such_room", "not_in_room", "banned"]);
const MEMBERS_PAGE = 100;
// Joins and leaves within this long make one chat line ("Ann, Bob and 3 others joined").
const PRESENCE_WINDOW_MS = 1500;
const PRESENCE_NAMES = 3;

// ---------------------------------------------------------------- the room's address

export function roomFromHash() {
  const m = /(?:^#|&)room=([^&]+)/.exec(window.location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

export function setHash(roomId) {
  const target = roomId ? `#room=${encodeURIComponent(roomId)}` : " ";
  if (window.location.hash !== target) history.replaceState(null, "", target === " " ? window.location.pathname : target);
}

// ---------------------------------------------------------------- entering and leaving

export async function joinRoom(roomId, { rejoin = false } = {}) {
  try {
    const reply = await app.conn.request("join_room", { room: roomId });
    if (rejoin && app.roomId === roomId && app.room) {
      applyState(reply.room, reply.role);
      startMedia(true);
      loadMembers();
      ui.notify("Reconnected.");
    } else {
      enterRoom(reply.room, reply.role);
    }
  } catch (err) {
    ui.notify(describeError(err), "error");
    if (rejoin || app.roomId === roomId) leaveRoomLocally();
    if (GONE_CODES.has(err.code)) forgetRoom(roomId); // ended: off the list at once
    setHash(null);
    showLobby(joinRoom);
  }
}

export function enterRoom(room, role) {
  stopRoomList();
  leaveRoomLocally();
  ui.clearChat();
  state.enterRoom(app, room, role);
  showState();
  setHash(room.id);
  ui.showView("room");
  startMedia(true);
  loadMembers();
}

/** Takes a full RoomState (join reply, room_state event, or a re-read). */
export function applyState(room, role) {
  const wasModerator = state.isModerator(app);
  state.applyRoomState(app, room, role);
  showState();
  if (state.isModerator(app) && !wasModerator) loadMembers();
}

/**
 * Everyone in the room, for the host's and admins' listeners panel (`list_members`, a page
 * at a time: `more` fetches the next). After a reload this is how the page learns of the
 * listeners who joined before it; `member_joined` / `member_left` keep it current.
 */
export async function loadMembers({ more = false } = {}) {
  if (!app.roomId || !state.isModerator(app) || !app.conn || !app.conn.isOpen) return;
  if (more && !app.memberCursor) return;
  const roomId = app.roomId;
  try {
    const params = { room: roomId, limit: MEMBERS_PAGE };
    if (more) params.cursor = app.memberCursor;
    const reply = await app.conn.request("list_members", params);
    if (app.roomId !== roomId) return;
    state.membersListed(app, reply);
    render();
  } catch (err) {
    // An older server has no list_members: the panel shows whom the events named.
    if (err.code !== "unknown_type" && err.code !== "disconnected") ui.notify(describeError(err), "error");
  }
}

function showState() {
  document.title = `${app.room.title} · Voice rooms`;
  render();
  syncMedia();
}

export function render() {
  renderRoom(app, app.actions);
  renderPropsPanels();
  showAudioStatus();
}

/** Drops our local picture of the room (the server side is handled by the caller). */
export function leaveRoomLocally() {
  if (app.media) app.media.stop();
  // Notices about the room's states (an invitation, a muted seat, requests) go with it.
  for (const key of ["invite", "seat-muted", "mic-request:"]) ui.clearNotice(key);
  presence.joined = null;
  presence.left = null;
  state.clearRoom(app);
  ui.setMicProblem(null);
  app.micProblem = null;
  app.audioState = "closed";
  showAudioStatus();
}

export function backToLobby(message, kind = "info") {
  // The room we leave may have ended: the lobby must not list it until its next refresh.
  if (app.roomId) forgetRoom(app.roomId);
  leaveRoomLocally();
  document.title = "Voice rooms";
  setHash(null);
  if (message) ui.notify(message, kind);
  showLobby(joinRoom);
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
    onStatus: (status, err) => {
      app.audioState = status;
      app.audioError = err || null;
      showAudioStatus();
    },
    onMicProblem: (text) => {
      app.micProblem = text || null;
      ui.setMicProblem(text);
      render(); // the mic button says "blocked" while there is a problem
    },
  });
  return app.media;
}

function showAudioStatus() {
  const status = app.audioState;
  const speaker = state.isSpeaker(app);
  const micOff = speaker && app.media && app.media.wantSend && !app.media.micStream;
  let text;
  if (status === "connected") {
    if (!speaker) text = "Sound on";
    else if (micOff) text = "Sound on, but your microphone is off";
    else text = "Sound on: you are live";
  } else if (status === "failed") {
    text = app.audioError ? `Sound failed: ${describeError(app.audioError)}` : "Sound connection failed, retrying…";
  } else {
    text = { connecting: "Connecting sound…", closed: "Sound off", blocked: "The browser blocked playback." }[status] || status;
  }
  ui.setAudioStatus(status, text);
  document.getElementById("audio-status").dataset.mic = status === "connected" && micOff ? "off" : "on";
}

export function startMedia(fresh) {
  if (!app.room) return;
  const media = ensureMedia();
  media.setMicEnabled(!state.mySelfMuted(app));
  if (fresh || !media.active) media.start(state.isSpeaker(app));
  else media.setSending(state.isSpeaker(app));
}

export function syncMedia() {
  if (!app.media || !app.media.active || !app.room) return;
  app.media.setMicEnabled(!state.mySelfMuted(app));
  app.media.setSending(state.isSpeaker(app));
  if (!state.isSpeaker(app)) {
    ui.setMicProblem(null);
    app.micProblem = null;
  }
}

// ---------------------------------------------------------------- events

/** A server event: state.js applies it, this carries out what follows. `onReplaced` is the
 * app's (a newer connection of ours took over: the app offers to take it back). */
export function onEvent(ev, onReplaced) {
  if (ev.type === "error") {
    // An error with no id: the server could not tie it to a request.
    ui.notify(describeError(new ProtocolError(ev.code, ev.message)), "error");
    return;
  }
  for (const effect of state.applyEvent(app, ev)) {
    if (effect.type === "replaced") onReplaced();
    else EFFECTS[effect.type](effect);
  }
}

const EFFECTS = {
  render: () => render(),
  sync_media: () => syncMedia(),
  resync: () => resync(),
  notify: (e) =>
    ui.notify(e.text, e.kind, {
      key: e.key,
      actions: (e.actions || []).map((a) => ({
        label: a.label,
        primary: a.primary,
        testid: a.action,
        run: () => app.actions[a.action](a.arg),
      })),
    }),
  clear_notice: (e) => ui.clearNotice(e.key),
  presence: (e) => notePresence(e),
  state_shown: () => showState(),
  media_check: () => {
    // The room's media may have moved to another node: offer again if its audio stopped.
    if (app.media && app.media.active) app.media.restartIfStalled();
    else startMedia(true);
  },
  speaking: () => updateSpeaking(app),
  chat: (e) => ui.appendChat(e.message, e.mine),
  leave: (e) => backToLobby(e.text, e.kind),
};

// Joins and leaves (host and admins hear of them): one chat line where the first one came,
// which gathers the names of those that follow within a moment ("Ann, Bob and 3 others
// joined"), so a busy room's chat is not a list of arrivals.
const presence = { joined: null, left: null, timer: null };

function notePresence(e) {
  if (!app.room) return;
  const verb = e.joined ? "joined" : "left";
  let group = presence[verb];
  if (!group) {
    group = presence[verb] = { names: [], line: ui.appendChat({ system: true, text: "" }, false) };
  }
  group.names.push(e.name);
  ui.setChatText(group.line, `${listOfNames(group.names)} ${verb}`);
  if (!presence.timer) presence.timer = setTimeout(endPresenceWindow, PRESENCE_WINDOW_MS);
}

function endPresenceWindow() {
  presence.timer = null;
  presence.joined = null;
  presence.left = null;
}

/** "Ann", "Ann and Bob", "Ann, Bob and Cy", "Ann, Bob, Cy and 4 others". */
export function listOfNames(names) {
  if (names.length === 1) return names[0];
  if (names.length <= PRESENCE_NAMES) return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
  const rest = names.length - PRESENCE_NAMES;
  return `${names.slice(0, PRESENCE_NAMES).join(", ")} and ${rest} other${rest === 1 ? "" : "s"}`;
}

/** Re-reads the room (join_room by a member changes nothing and returns the state). */
async function resync() {
  if (!app.roomId || !app.conn || !app.conn.isOpen) return;
  const roomId = app.roomId;
  try {
    const reply = await app.conn.request("join_room", { room: roomId });
    if (app.roomId === roomId) {
      applyState(reply.room, reply.role);
      loadMembers(); // what we missed: the listeners panel is re-read with the room
    }
  } catch (err) {
    if (GONE_CODES.has(err.code) && app.roomId === roomId) backToLobby(describeError(err), "error");
  }
}

/** Sends a room request; shows a clear message and re-reads the room if it fails. */
export async function roomRequest(type, params = {}) {
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
