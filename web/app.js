// The page's entry: signing in and out, the connection and its reconnection, the lobby's
// forms, and the wiring of the fixed buttons. The room lives in room.js (its state in
// state.js, its buttons in actions.js), rendering in ui.js and room_view.js, the wire in
// protocol.js, the audio in media.js.

import { Connection, ProtocolError, describeError, socketUrl, userIdFor } from "./protocol.js";
import { actions } from "./actions.js";
import { app } from "./context.js";
import { refreshRooms, showLobby, stopRoomList } from "./lobby.js";
import { enterRoom, joinRoom, leaveRoomLocally, onEvent, roomFromHash, setHash } from "./room.js";
import { onPropsEvent, propsSignedIn } from "./props.js";
import { meetReconnected, meetSignedIn, meetSignedOut, onMeetEvent, wireMeet } from "./meet.js";
import * as ui from "./ui.js";
import { callsConnectionLost, callsReconnected, callsSignedIn, callsSignedOut, hangupForSignOut, onCallEvent, unlockSounds, wireCalls } from "./calls.js";
import { onPeopleEvent, peopleSignedIn, peopleSignedOut, refreshPeople, wirePeople } from "./people.js";

const RECONNECT_DELAYS_MS = [500, 1000, 2000, 4000, 5000];
const SESSION_KEY = "voiceroom.session";

app.actions = actions;

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
  const params = app.session.token
    ? { token: app.session.token }
    : {
        user: app.session.user,
        name: app.session.name,
        ...(app.session.app ? { app: app.session.app } : {}),
        // Development mode: what a token would say (matching is for verified users).
        ...(app.session.verified ? { verified: true } : {}),
        ...(app.session.city ? { city: app.session.city } : {}),
      };
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
  app.session.app = reply.app || app.session.app || "main";
  app.server = reply.server || null;
  app.verified = Boolean(reply.verified);
  conn.on("*", (ev) => {
    onCallEvent(ev);
    onMeetEvent(ev);
    onPeopleEvent(ev);
    onEvent(ev, onReplaced);
    onPropsEvent(ev);
  });
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
  callsSignedIn(app.session.user);
  meetSignedIn(app.session.user, app.verified);
  peopleSignedIn(app.session.user);
  propsSignedIn(app.session.user);
  const wanted = roomFromHash();
  if (wanted) await joinRoom(wanted);
  else showLobby(joinRoom);
}

function signOut() {
  app.signingOut = true;
  leaveRoomLocally();
  callsSignedOut();
  peopleSignedOut();
  meetSignedOut();
  if (app.conn) app.conn.close();
  app.conn = null;
  app.signingOut = false;
  app.session = { user: null, name: null, token: null, app: null };
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
  callsConnectionLost();
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
  callsReconnected();
  meetReconnected();
  refreshPeople();
  if (app.roomId) {
    // join_room again takes a held seat back within the grace period.
    await joinRoom(app.roomId, { rejoin: true });
  } else {
    showLobby(joinRoom);
  }
}

/** A newer connection of ours (another tab or device) took this room over. */
function onReplaced() {
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
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------- the lobby's form

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

// ---------------------------------------------------------------- wiring

function wire() {
  document.getElementById("signin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const data = new FormData(ev.target);
    const token = String(data.get("token") || "").trim();
    const name = String(data.get("name") || "").trim();
    const appName = String(data.get("app") || "").trim() || null;
    const verified = data.get("verified") === "on";
    const city = String(data.get("city") || "").trim() || null;
    unlockSounds(); // a click: the ringtone may play later
    if (token) {
      signIn({ token, user: null, name: null, app: null });
    } else if (name) {
      signIn({ user: userIdFor(name), name, token: null, app: appName, verified, city });
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
    await hangupForSignOut();
    setHash(null);
    signOut();
  });
  document.getElementById("create-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    createRoom(ev.target);
  });
  document.getElementById("refresh-rooms").addEventListener("click", () => refreshRooms(joinRoom));
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

/** The apps of the server's policy (GET /apps), for the sign-in selector; "main" if unknown. */
async function loadApps() {
  const select = document.querySelector('#signin-form select[name="app"]');
  try {
    const res = await fetch("/apps", { cache: "no-store" });
    if (!res.ok) return;
    const apps = (await res.json()).apps;
    if (!Array.isArray(apps) || !apps.length) return;
    select.replaceChildren(...apps.map((name) => new Option(String(name), String(name))));
  } catch {
    /* an older server: "main" it is */
  }
}

wire();
wireCalls();
wirePeople();
wireMeet();
loadApps();
const saved = loadSession();
if (saved) signIn(saved);
else ui.showView("signin");
