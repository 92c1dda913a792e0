// Rendering of calls: the incoming-call sheet and the in-call view (both fixed in index.html,
// so that the <video> elements keep their streams across renders). No protocol here: the
// state comes from call_state.js, the buttons are wired by calls.js.

import { $, avatar } from "./dom.js";
import { durationText, peerOf, ringingHere, viewOf } from "./call_state.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const ICONS = {
  phone: "M6.6 10.8a15.2 15.2 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25 11.4 11.4 0 0 0 3.6.57 1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.45.57 3.57a1 1 0 0 1-.25 1z",
  hangup: "M12 9c-1.6 0-3.15.25-4.6.72v3.1a1 1 0 0 1-.56.9 11.5 11.5 0 0 0-2.66 1.85 1 1 0 0 1-1.41-.02L.29 13.08a1 1 0 0 1 0-1.41A16.9 16.9 0 0 1 12 7c4.55 0 8.7 1.8 11.7 4.67a1 1 0 0 1 0 1.41l-2.48 2.48a1 1 0 0 1-1.41.02 11.3 11.3 0 0 0-2.67-1.85 1 1 0 0 1-.56-.9v-3.1A15 15 0 0 0 12 9z",
  mic: "M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.92V21h2v-3.08A7 7 0 0 0 19 11h-2z",
  micOff: "M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.92V21h2v-3.08A7 7 0 0 0 19 11h-2zM3.7 2.3 2.3 3.7l18 18 1.4-1.4z",
  video: "M17 10.5V7a1 1 0 0 0-1-1H4a1 1 0 0 0-1 1v10a1 1 0 0 0 1 1h12a1 1 0 0 0 1-1v-3.5l4 4v-11z",
  videoOff: "M17 10.5V7a1 1 0 0 0-1-1H8.8L17 14.2zM3.3 2.3 2 3.6 4.4 6H4a1 1 0 0 0-1 1v10a1 1 0 0 0 1 1h12c.2 0 .4-.1.6-.2l3.8 3.8 1.3-1.3zM21 6.5l-4 4v3l4 4z",
};

/** A button's icon and words together (fonts on kiosks and CI often lack emoji). */
function setButton(el, iconName, text) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.classList.add("icon");
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", ICONS[iconName]);
  svg.append(path);
  const label = document.createElement("span");
  label.textContent = text;
  el.replaceChildren(svg, label);
}

function label(party) {
  return (party && (party.name || party.user)) || "Someone";
}

const APP_NAMES = { main: "Main", douyin: "Douyin", duoshan: "Duoshan" };
export function appLabel(app) {
  return APP_NAMES[app] || app;
}

/**
 * @param {object} s  call_state.js's state
 * @param {object} o  {myApp, now, media: "connecting"|"connected"|"failed"|"closed", remoteShowing, problem}
 */
export function renderCall(s, o) {
  const view = viewOf(s);
  document.body.dataset.call = view;

  const sheet = $("incoming-call");
  const ringing = view === "incoming" ? ringingHere(s) : null;
  sheet.hidden = !ringing;
  if (ringing) {
    const caller = ringing.caller;
    $("incoming-avatar").replaceChildren(avatar(caller.user, caller.name));
    $("incoming-title").textContent = `${label(caller)} is calling`;
    const via = caller.app && caller.app !== o.myApp ? ` from ${appLabel(caller.app)}` : "";
    $("incoming-sub").textContent = `${ringing.video ? "Video call" : "Voice call"}${via}`;
    sheet.dataset.video = String(Boolean(ringing.video));
    setButton($("incoming-answer"), ringing.video ? "video" : "phone", "Answer");
    setButton($("incoming-decline"), "hangup", "Decline");
  }

  const callView = $("call-view");
  const live = view === "outgoing" || view === "active";
  callView.hidden = !live;
  callView.dataset.state = view;
  if (!live) return;
  const call = s.call;
  const peer = peerOf(s, call);
  callView.dataset.video = String(Boolean(call.video));
  callView.dataset.remoteVideo = String(Boolean(call.video && o.remoteShowing));
  // Our own picture once the camera runs (it opens when the call goes live).
  callView.dataset.localVideo = String(Boolean(view === "active" && call.video && s.cameraOn));
  $("call-avatar").replaceChildren(avatar(peer.user, peer.name));
  $("call-name").textContent = label(peer);
  $("call-status").textContent = statusText(s, view, o, peer);
  $("call-duration").textContent = view === "active" ? durationText(s, o.now) : "";
  const problem = $("call-problem");
  problem.hidden = !o.problem;
  problem.textContent = o.problem || "";

  const mute = $("call-mute");
  mute.hidden = view !== "active";
  mute.setAttribute("aria-pressed", String(s.muted));
  setButton(mute, s.muted ? "micOff" : "mic", s.muted ? "Unmute" : "Mute");
  const camera = $("call-camera");
  camera.hidden = !(view === "active" && call.video);
  camera.setAttribute("aria-pressed", String(s.cameraOn));
  setButton(camera, s.cameraOn ? "video" : "videoOff", s.cameraOn ? "Camera off" : "Camera on");
  setButton($("call-hangup"), "hangup", view === "outgoing" ? "Cancel" : "Hang up");
}

function statusText(s, view, o, peer) {
  if (view === "outgoing") return `${s.call.video ? "Video calling" : "Calling"}…`;
  if (s.peerAway) return `${label(peer)}'s connection dropped: waiting for them…`;
  if (o.media === "failed") return "The call's sound could not connect.";
  if (o.media !== "connected") return "Connecting…";
  if (s.call.video && !o.remoteShowing) return `${label(peer)}'s camera is off`;
  return s.call.video ? "Video call" : "Voice call";
}

/** Once a second while a call is live: just the clock. */
export function updateDuration(s, now) {
  if (viewOf(s) === "active") $("call-duration").textContent = durationText(s, now);
}
