// Calls on the page: the requests (call, answer, decline, hang up), the server's call events
// through call_state.js, and what follows (ringtone, media, rendering, the clock).
// `window.voiceroom.calls` is this module's state, for the console and the browser tests.

import { describeError } from "./protocol.js";
import { app } from "./context.js";
import * as cs from "./call_state.js";
import { CallLink } from "./call_media.js";
import { renderCall, updateDuration } from "./call_view.js";
import { renderPropsPanels } from "./props.js";
import { Tones } from "./tones.js";
import * as ui from "./ui.js";
import { $ } from "./dom.js";

const state = cs.callState();
const tones = new Tones();
const view = { media: "closed", remoteShowing: false, problem: null };
let link = null;
let clock = null;

app.calls = state;
app.callTones = tones;
app.callLink = () => link;

// ---------------------------------------------------------------- carrying out effects

function run(effects) {
  for (const effect of effects) EFFECTS[effect.type](effect);
}

const EFFECTS = {
  render: () => render(),
  notify: (e) => ui.notify(e.text, e.kind),
  ring: () => tones.ring(),
  stop_ring: () => tones.stop("ring"),
  ringback: () => tones.ringback(),
  stop_ringback: () => tones.stop("ringback"),
  start_media: (e) => startMedia(e.call),
  stop_media: () => stopMedia(),
  mute: (e) => link && link.setMuted(e.muted),
  camera: (e) => link && link.setCamera(e.on),
};

function render() {
  renderCall(state, { myApp: app.session.app || "main", now: Date.now(), ...view });
  renderPropsPanels();
  const live = cs.viewOf(state) === "active";
  // The room's sound waits while we talk to someone.
  const roomAudio = $("room-audio");
  if (roomAudio) roomAudio.muted = live;
  if (live && !clock) clock = setInterval(() => updateDuration(state, Date.now()), 1000);
  if (!live && clock) {
    clearInterval(clock);
    clock = null;
  }
}

function startMedia(call) {
  stopMedia();
  view.media = "connecting";
  view.remoteShowing = false;
  link = new CallLink({
    callId: call.id,
    video: Boolean(call.video),
    sendOffer: async (sdp) => (await app.conn.request("webrtc_offer", { call: call.id, sdp })).sdp,
    remoteAudio: $("call-audio"),
    remoteVideo: $("call-remote-video"),
    localVideo: $("call-local-video"),
    onStatus: (status) => {
      view.media = status;
      render();
    },
    onProblem: (text) => {
      view.problem = text;
      render();
    },
    onRemoteVideo: (showing) => {
      view.remoteShowing = showing;
      render();
    },
  });
  link.setMuted(state.muted);
  const mine = link;
  mine.start().catch((err) => {
    if (link !== mine) return;
    view.media = "failed";
    view.problem = `The call's media could not start: ${describeError(err)}`;
    render();
  });
}

function stopMedia() {
  if (link) link.stop();
  link = null;
  view.media = "closed";
  view.remoteShowing = false;
  view.problem = null;
}

// ---------------------------------------------------------------- what the user does

/** Calls `user` (a friend); `name` only for the words on the screen. */
export async function placeCall(user, video = false) {
  if (!app.conn || !app.conn.isOpen) return;
  tones.unlock(); // a click: the browser lets the sounds start now
  try {
    const reply = await app.conn.request("call", { user, video });
    run(cs.placed(state, reply.call, Date.now()));
  } catch (err) {
    ui.notify(describeError(err), "error");
  }
}

async function answer() {
  const call = cs.ringingHere(state);
  if (!call) return;
  tones.unlock();
  try {
    const reply = await app.conn.request("answer_call", { call: call.id });
    run(cs.answered(state, reply.call, Date.now()));
  } catch (err) {
    ui.notify(describeError(err), "error");
    if (err.code === "no_such_call") run(cs.forget(state, call.id));
  }
}

async function decline() {
  const call = cs.ringingHere(state);
  if (!call) return;
  try {
    await app.conn.request("decline_call", { call: call.id });
  } catch (err) {
    if (err.code !== "no_such_call") ui.notify(describeError(err), "error");
  }
  run(cs.declined(state, call.id));
}

async function hangup() {
  const call = state.call;
  if (!call) return;
  try {
    await app.conn.request("hangup", { call: call.id });
  } catch (err) {
    if (err.code !== "no_such_call") {
      ui.notify(describeError(err), "error");
      return;
    }
  }
  run(cs.hungUp(state, call.id));
}

// ---------------------------------------------------------------- the app's hooks

/** A server event (every one passes here; call_state.js keeps those about calls). */
export function onCallEvent(ev) {
  run(cs.applyCallEvent(state, ev, Date.now()));
}

export function callsSignedIn(user) {
  stopAll();
  cs.signedIn(state, user);
  render();
}

/** Signing out ends our call (or declines what rings) instead of leaving it to the grace. */
export async function hangupForSignOut() {
  const ringing = cs.ringingHere(state);
  if (state.call) await hangup();
  else if (ringing) await decline();
}

export function callsSignedOut() {
  stopAll();
  cs.signedIn(state, null);
  render();
}

/** After a reconnect: which of our calls are still live (and offer again for ours). */
export async function callsReconnected() {
  try {
    const reply = await app.conn.request("list_calls", {});
    run(cs.refreshed(state, reply.calls || [], Date.now()));
  } catch (err) {
    if (err.code !== "disconnected") ui.notify(describeError(err), "error");
  }
}

/** The socket is gone: stop ringing (the server may still hold a live call for its grace). */
export function callsConnectionLost() {
  tones.stop();
}

export function unlockSounds() {
  tones.unlock();
}

function stopAll() {
  tones.stop();
  stopMedia();
}

export function wireCalls() {
  $("incoming-answer").addEventListener("click", answer);
  $("incoming-decline").addEventListener("click", decline);
  $("call-hangup").addEventListener("click", hangup);
  $("call-mute").addEventListener("click", () => run(cs.setMuted(state, !state.muted)));
  $("call-camera").addEventListener("click", () => run(cs.setCamera(state, !state.cameraOn)));
}
