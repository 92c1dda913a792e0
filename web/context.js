// The page's one state object: the room state (state.js) plus the connection's and the
// page's handles. `window.voiceroom` is this object, for the console and the browser tests.

import { nameOf, roomState } from "./state.js";

export const app = {
  ...roomState(),
  conn: null,
  server: null,
  rooms: [],
  roomsLoaded: false,
  listJoin: null, // what a listed room's Join button does (lobby.js)
  replaced: false,
  reconnecting: false,
  signingOut: false,
  audioState: "closed",
  audioError: null,
  micProblem: null, // the microphone's problem in words (denied, none), or null
  listTimer: null,
  media: null,
  actions: null, // the room's buttons (actions.js), handed in by app.js
  nameOf(user) {
    return nameOf(app, user);
  },
};
window.voiceroom = app;
