// Props on the page: the panel in a room and in a call (props_view.js), the requests its
// controls send, the server's props events through props_state.js and what follows (the
// panel again, a line in the room's chat or a notice in a call). `window.voiceroom.props` is
// this module's state, for the console and the browser tests.

import { describeError } from "./protocol.js";
import { app } from "./context.js";
import { $ } from "./dom.js";
import * as ps from "./props_state.js";
import { renderProps } from "./props_view.js";
import { mySeat } from "./state.js";
import * as ui from "./ui.js";

const state = ps.propsState();
app.props = state;

// ---------------------------------------------------------------- in and out

/** After sign-in: the server's sounds and music, once per session. */
export async function propsSignedIn(user) {
  ps.signedIn(state, user);
  try {
    const [sounds, music] = await Promise.all([app.conn.request("list_sounds"), app.conn.request("list_music")]);
    run(ps.catalogue(state, { sounds: sounds.sounds, tracks: music.tracks }));
  } catch (err) {
    // An older server has no props: the panel offers dice and cards only where it can.
    if (err.code !== "unknown_type" && err.code !== "disconnected") ui.notify(describeError(err), "error");
  }
}

/** Every server event (after the room's and the call's parts took it). */
export function onPropsEvent(ev) {
  sync();
  run(ps.applyPropsEvent(state, ev, (user) => app.nameOf(user)));
}

/** The room or the call was drawn again: the panels follow (room.js, calls.js call this). */
export function renderPropsPanels() {
  sync();
  render();
}

function sync() {
  run(ps.roomSeen(state, app.room));
  const call = app.calls && app.calls.call;
  run(ps.callSeen(state, call && call.state === "active" ? call : null));
}

function run(effects) {
  for (const effect of effects) {
    if (effect.type === "render") render();
    else if (effect.type === "line") line(effect);
  }
}

function line(effect) {
  if (effect.where === "room") ui.appendChat({ system: true, text: effect.text }, false);
  else ui.notify(effect.text);
}

function render() {
  const allowed = ps.may(state, { role: app.role, seated: Boolean(mySeat(app)), inCall: state.callId !== null });
  const roomPanel = $("props-panel");
  if (roomPanel) {
    roomPanel.hidden = state.roomId === null;
    renderProps(roomPanel, state, { where: "room", allowed: allowed.room, actions });
  }
  const callPanel = $("call-props");
  if (callPanel) {
    callPanel.hidden = state.callId === null;
    if (state.callId !== null) renderProps(callPanel, state, { where: "call", allowed: allowed.call, actions });
  }
}

// ---------------------------------------------------------------- the controls

function target(where) {
  return where === "call" ? { call: state.callId } : { room: state.roomId };
}

async function send(type, params) {
  if (!app.conn) return null;
  try {
    return await app.conn.request(type, params);
  } catch (err) {
    ui.notify(describeError(err), "error");
    render(); // a refused change leaves the controls as they were
    return null;
  }
}

const actions = {
  async effect(where, effect) {
    if (await send("set_voice_effect", { ...target(where), effect })) run(ps.myEffect(state, where, effect));
  },
  async sound(where, sound) {
    await send("play_sound", { ...target(where), sound });
  },
  async roll(where, count) {
    await send("roll_dice", { ...target(where), count });
  },
  async card(where, deck) {
    await send("draw_card", { ...target(where), deck });
  },
  async playMusic(track, loop) {
    await send("play_music", { room: state.roomId, track, loop });
  },
  async stopMusic() {
    await send("stop_music", { room: state.roomId });
  },
  async volume(volume) {
    await send("set_music_volume", { room: state.roomId, volume });
  },
};
