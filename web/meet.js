// Meeting someone at random (連線) on the page: the lobby's panel, match_join / match_leave,
// the peer's card during the match's call (the call itself is calls.js's: match_found makes
// it the page's live call), Next / Report / Block, and back into the queue after a reconnect.
// `window.voiceroom.meet` is this module's state, for the console and the browser tests.

import { describeError } from "./protocol.js";
import { app } from "./context.js";
import * as ms from "./meet_state.js";
import { renderMeet } from "./meet_view.js";
import { noteBlocked } from "./people.js";
import * as ui from "./ui.js";
import { $ } from "./dom.js";

const state = ms.meetState();
// What the user typed, kept across renders (not the server's business until sent).
const draft = { city: "any", tags: "", home: "", reason: "" };
app.meet = state;

const actions = {
  start: () => run(ms.joinAsked(state, { city: draft.city, tags: ms.parseTags(draft.tags) })),
  stop: () => run(ms.leaveAsked(state)),
  next: () => run(ms.nextAsked(state)),
  block: () => run(ms.blockAsked(state)),
  openReport: (open) => {
    draft.reason = "";
    run(ms.reportOpened(state, open));
  },
  report: (reason) => run(ms.reportAsked(state, reason)),
  setHome: (city) => setHome(city),
};

function run(effects) {
  for (const effect of effects) {
    const carry = EFFECTS[effect.type];
    if (carry) carry(effect);
  }
}

const EFFECTS = {
  render: () => render(),
  notify: (e) => ui.notify(e.text, e.kind),
  join: (e) => join(e.prefs),
  leave: () => request("match_leave", {}),
  // The call view's own Hang up: calls.js ends the call, and this module hears the click.
  hangup: () => $("call-hangup").click(),
  report: (e) => report(e.user, e.reason),
  block: (e) => block(e.user),
};

function render() {
  renderMeet(state, draft, actions);
}

function connected() {
  return Boolean(app.conn && app.conn.isOpen);
}

async function request(type, params) {
  if (!connected()) return null;
  try {
    return await app.conn.request(type, params);
  } catch (err) {
    ui.notify(describeError(err), "error");
    return null;
  }
}

async function join(prefs) {
  if (!connected()) return;
  try {
    await app.conn.request("match_join", prefs);
    run(ms.joined(state));
  } catch (err) {
    run(ms.joinRefused(state, err.code, describeError(err)));
  }
}

async function report(user, reason) {
  if (await request("report", { user, reason })) run(ms.reported(state, user));
}

async function block(user) {
  if (!(await request("block", { user }))) return;
  const card = [state.peer, state.last].find((c) => c && c.user === user);
  run(ms.blocked(state, user));
  noteBlocked(user, card && card.name);
}

async function setHome(city) {
  city = String(city || "").trim();
  if (!city) return;
  const reply = await request("set_profile", { city });
  if (reply) {
    draft.home = "";
    run(ms.profileRead(state, reply.profile));
  }
}

async function readProfile() {
  const reply = await request("get_profile", { user: state.me });
  if (reply) {
    run(ms.profileRead(state, reply.profile));
    if (!draft.tags) draft.tags = state.prefs.tags.join(", ");
    render();
  }
}

// ---------------------------------------------------------------- the app's hooks

/** Every server event passes here (meet_state.js keeps match_found and its call's end). */
export function onMeetEvent(ev) {
  run(ms.applyMeetEvent(state, ev));
}

export function meetSignedIn(user, verified) {
  Object.assign(draft, { city: "any", tags: "", home: "", reason: "" });
  run(ms.signedIn(state, user, verified));
  if (state.verified) readProfile();
}

export function meetSignedOut() {
  run(ms.signedIn(state, null, false));
}

/** After a reconnect: the server took us out of the queue with the old socket. */
export function meetReconnected() {
  run(ms.reconnected(state));
}

export function wireMeet() {
  // Whoever presses the call view's Hang up (or Next / Block here) ends the match's call.
  $("call-hangup").addEventListener("click", () => {
    if (state.phase === "matched" && app.calls && app.calls.call && app.calls.call.id === state.call) {
      run(ms.callOver(state, state.call));
    }
  });
  render();
}
