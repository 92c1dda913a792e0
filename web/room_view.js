// The room view from the app's state: seats, the user's controls, the mic queue and the
// listeners (for moderators), the phone's dock. Every button calls one of the `actions`
// (actions.js) passed in.

import { $, avatar, flag, h, icon } from "./dom.js";
import { inviteText, micState, queueLength } from "./state.js";

// Levels are linear in dB from -60 dBFS (0.0) to 0 dBFS (1.0); speech starts near -45 dBFS.
const SPEAKING_THRESHOLD = 0.2;

/** Everything in the room view but the chat log, from the app's state. */
export function renderRoom(app, actions) {
  const room = app.room;
  if (!room) return;
  const me = app.session.user;
  const isHost = room.host.user === me;
  const isMod = isHost || app.role === "admin";
  const mySeat = room.seats.find((s) => s.user === me);

  $("room-title").textContent = room.title;
  const mode = $("room-mode");
  mode.textContent = room.mode === "chatroom" ? "Chatroom" : "Live";
  mode.className = `badge mode-${room.mode}`;
  mode.dataset.mode = room.mode;
  // Everyone must know when the room is recorded (docs/protocol.md "Recording").
  $("recording-mark").hidden = !room.recording;
  $("audience-count").textContent = `${room.audience_count} in the audience`;
  $("audience-count").dataset.count = room.audience_count;
  // Everyone sees how long the mic queue is; moderators see who is in it (the panel).
  const waiting = queueLength(app);
  const queueNote = $("queue-length");
  queueNote.hidden = waiting === 0;
  queueNote.dataset.count = waiting;
  queueNote.textContent = `${waiting} waiting for the mic`;
  $("my-role").textContent = isHost ? "You are the host" : app.role === "admin" ? "You are an admin" : mySeat ? "You are on a seat" : "You are listening";
  $("seat-mode").textContent = room.seat_mode === "free" ? "Free seating" : "Seats by request";

  renderSeats(app, actions, { isHost, isMod, mySeat });
  renderControls(app, actions, { isHost, isMod, mySeat });
  renderQueue(app, actions, isMod);
  renderMembers(app, actions, { isHost, isMod });
  renderDock(app, actions, isMod);
  updateSpeaking(app);
}

/** The phone's dock: the stage, the requests (with their count), the chat, the people. */
function renderDock(app, actions, isMod) {
  const waiting = isMod ? queueLength(app) : 0;
  $("dock-stage").onclick = actions.showStage;
  $("dock-chat").onclick = actions.showChat;
  $("dock-queue").onclick = actions.showQueue;
  $("dock-members").onclick = actions.showMembers;
  $("dock-queue").hidden = !isMod;
  $("dock-members").hidden = !isMod;
  const badge = $("dock-queue-count");
  badge.textContent = waiting ? String(waiting) : "";
  badge.dataset.count = waiting;
  $("dock-queue").classList.toggle("alert", waiting > 0);
}

function renderSeats(app, actions, { isMod, mySeat }) {
  const room = app.room;
  const me = app.session.user;
  const grid = $("seat-grid");
  grid.dataset.mode = room.mode;
  grid.dataset.seats = room.seats.length;
  grid.style.setProperty("--cols", Math.min(4, Math.max(1, room.seats.length)));
  const tiles = [];

  const host = room.host;
  tiles.push(
    h(
      "div",
      {
        class: "seat host",
        testid: "seat-host",
        dataset: { user: host.user, selfMuted: host.self_muted, away: host.away },
      },
      h("div", { class: "ring" }, avatar(host.user, host.name)),
      h("div", { class: "seat-name", testid: "seat-host-name" }, host.name || host.user),
      h(
        "div",
        { class: "seat-flags" },
        h("span", { class: "flag role" }, "Host"),
        host.self_muted && flag("seat-host-self-muted", "self-muted", "mic off", "The host turned their mic off"),
        host.away && flag("seat-host-away", "away", "away", "The host's connection dropped"),
      ),
    ),
  );

  const invitedSeat = app.invite ? app.invite.seat : null;
  for (const seat of room.seats) {
    const i = seat.index;
    const mine = seat.user === me && me;
    const canTake =
      !seat.user &&
      !seat.locked &&
      !mine &&
      room.host.user !== me &&
      (mySeat || room.seat_mode === "free" || app.role === "admin" || invitedSeat === i);
    const seatActions = [];
    if (canTake) {
      seatActions.push(
        h(
          "button",
          { class: mySeat ? "small" : "small primary", testid: `seat-${i}-take`, onclick: () => (mySeat ? actions.switchSeat(i) : actions.takeSeat(i)) },
          mySeat ? "Move here" : "Take seat",
        ),
      );
    }
    if (isMod) {
      seatActions.push(
        h(
          "button",
          { class: "small", testid: `seat-${i}-mute`, onclick: () => actions.seatMute(i, !seat.muted) },
          seat.muted ? "Unmute" : "Mute",
        ),
        h(
          "button",
          { class: "small", testid: `seat-${i}-lock`, onclick: () => actions.seatLock(i, !seat.locked) },
          seat.locked ? "Unlock" : "Lock",
        ),
      );
      if (seat.user) {
        seatActions.push(h("button", { class: "small danger", testid: `seat-${i}-kick`, onclick: () => actions.seatKick(i) }, "Kick"));
      }
    }
    const label = seat.user ? seat.name || seat.user : seat.locked ? "Locked" : `Seat ${i + 1}`;
    // An empty seat keeps the host's mute for whoever sits next: it shows it as a muted mic.
    const emptyAvatar = seat.locked
      ? h("div", { class: "avatar empty" }, icon("lock"))
      : seat.muted
        ? h("div", { class: "avatar empty muted" }, icon("micOff"))
        : avatar(null);
    tiles.push(
      h(
        "div",
        {
          class: `seat${seat.user ? " taken" : " open"}${mine ? " mine" : ""}`,
          testid: `seat-${i}`,
          dataset: {
            index: i,
            user: seat.user || "",
            muted: seat.muted,
            selfMuted: seat.self_muted,
            locked: seat.locked,
            away: seat.away,
          },
        },
        h("div", { class: "ring" }, seat.user ? avatar(seat.user, seat.name) : emptyAvatar),
        h("div", { class: "seat-name", testid: `seat-${i}-name` }, label, mine ? " (you)" : ""),
        h(
          "div",
          { class: "seat-flags" },
          seat.muted && flag(`seat-${i}-muted`, "muted", "muted", seat.user ? "Muted by the host" : "Muted by the host: whoever sits here is not heard until unmuted"),
          seat.self_muted && flag(`seat-${i}-self-muted`, "self-muted", "mic off", "Turned their mic off"),
          seat.locked && flag(`seat-${i}-locked`, "locked", "locked", "Locked by the host"),
          seat.away && flag(`seat-${i}-away`, "away", "away", "Connection dropped; the seat is held for them"),
        ),
        seatActions.length ? h("div", { class: "seat-actions" }, seatActions) : null,
      ),
    );
  }
  grid.replaceChildren(...tiles);
}

function renderControls(app, actions, { isHost, isMod, mySeat }) {
  const room = app.room;
  const box = $("my-controls");
  const items = [];

  if (app.invite) {
    items.push(
      h(
        "div",
        { class: "invite", testid: "invite" },
        h("span", {}, inviteText(app)),
        h("button", { class: "primary", testid: "invite-accept", onclick: () => actions.answerInvite(true) }, "Accept"),
        h("button", { testid: "invite-decline", onclick: () => actions.answerInvite(false) }, "Decline"),
      ),
    );
  }

  const speaking = isHost || mySeat;
  if (speaking) items.push(...micControls(app, actions, mySeat));
  if (mySeat) {
    items.push(h("button", { testid: "leave-seat", onclick: actions.leaveSeat }, "Leave seat"));
  } else if (!isHost) {
    if (app.myRequest) {
      items.push(
        h("span", { class: "hint", testid: "mic-request-status" }, `Mic requested: you are number ${app.myRequest.position} in line.`),
        h("button", { testid: "cancel-mic", onclick: actions.cancelMic }, "Cancel request"),
      );
    } else {
      items.push(h("button", { class: "primary", testid: "request-mic", onclick: actions.requestMic }, icon("hand"), "Request the mic"));
    }
    const freeSeat = room.seats.some((s) => !s.user && !s.locked);
    if (freeSeat && (room.seat_mode === "free" || app.role === "admin")) {
      items.push(h("span", { class: "hint" }, "Or take any free seat."));
    }
  }
  if (isHost) {
    items.push(
      room.mode === "live"
        ? h("button", { testid: "open-chatroom", onclick: actions.openChatroom }, "Open chatroom")
        : h("button", { testid: "close-chatroom", onclick: actions.closeChatroom }, "Back to live"),
      h("button", { class: "danger", testid: "close-room", onclick: actions.closeRoom }, "End room"),
    );
  }
  box.replaceChildren(...items);
  $("queue-panel").hidden = !isMod;
  $("members-panel").hidden = !isMod;
}

/**
 * The mic button as the microphone really is (state.micState): live, off by the user's own
 * switch, muted by the host (the switch still works, but nobody hears the seat), or blocked
 * by the browser (the button retries).
 */
function micControls(app, actions, mySeat) {
  const room = app.room;
  const selfMuted = mySeat ? mySeat.self_muted : room.host.self_muted;
  const mic = micState(app, { micDenied: Boolean(app.micProblem) });
  const toggle = () => actions.selfMute(!selfMuted);
  const looks = {
    live: ["on", "mic", "Mic on", "tap to mute", toggle],
    off: ["off", "micOff", "Mic off", "tap to unmute", toggle],
    "host-muted": ["host-muted", "micOff", "Muted by the host", selfMuted ? "your mic is off too: tap to turn it on" : "tap to turn your own mic off", toggle],
    denied: ["denied", "micOff", "Microphone blocked", "tap to try again", actions.retryMicrophone],
  }[mic];
  const [cls, iconName, label, sub, onclick] = looks;
  const items = [
    h(
      "button",
      {
        class: `toggle mic ${cls}`,
        testid: "self-mute",
        dataset: { state: mic },
        "aria-pressed": selfMuted ? "true" : "false",
        title: sub,
        onclick,
      },
      icon(iconName),
      h("span", { class: "mic-label", testid: "mic-label" }, label),
      h("span", { class: "mic-sub" }, sub),
    ),
  ];
  if (mic === "host-muted") {
    items.push(h("span", { class: "hint", testid: "muted-by-host" }, "Only the host or an admin can unmute your seat."));
  }
  return items;
}

function renderQueue(app, actions, isMod) {
  const list = $("queue-list");
  if (!isMod) {
    list.replaceChildren();
    return;
  }
  const queue = app.room.queue || [];
  $("queue-count").textContent = queue.length ? String(queue.length) : "";
  $("queue-count").dataset.count = queue.length;
  if (!queue.length) {
    list.replaceChildren(h("li", { class: "empty-list" }, "Nobody is waiting for the mic."));
    return;
  }
  list.replaceChildren(
    ...queue.map((req, n) =>
      h(
        "li",
        { class: "queue-item", testid: "queue-item", dataset: { user: req.user } },
        h("span", { class: "pos" }, `${n + 1}.`),
        avatar(req.user, req.name),
        h("span", { class: "grow" }, req.name || req.user, req.note ? h("span", { class: "note" }, ` “${req.note}”`) : null),
        h("button", { class: "small primary", testid: `accept-${req.user}`, onclick: () => actions.acceptMic(req.user) }, "Accept"),
        h("button", { class: "small", testid: `reject-${req.user}`, onclick: () => actions.rejectMic(req.user) }, "Reject"),
      ),
    ),
  );
}

function renderMembers(app, actions, { isHost, isMod }) {
  const list = $("member-list");
  if (!isMod) {
    list.replaceChildren();
    return;
  }
  const me = app.session.user;
  const room = app.room;
  const seated = new Map(room.seats.filter((s) => s.user).map((s) => [s.user, s.index]));
  const rows = [...app.members.values()]
    .filter((m) => m.user !== room.host.user)
    .sort((a, b) => String(a.name).localeCompare(String(b.name)));
  // The room's own count is the truth; the list may hold a first page of a big room.
  const total = room.audience_count;
  $("member-count").textContent = total ? `(${total})` : "";
  const more = $("more-members");
  more.hidden = !app.memberCursor;
  more.textContent = `Show more (${Math.max(0, total - rows.length)} more)`;
  more.onclick = actions.moreMembers;
  if (!rows.length) {
    const text = total && !app.membersListed ? "Loading who is here…" : "Nobody else is here yet.";
    list.replaceChildren(h("li", { class: "empty-list" }, text));
    return;
  }
  list.replaceChildren(
    ...rows.map((m) => {
      const isAdmin = room.admins.includes(m.user);
      const buttons = [];
      if (m.user !== me) {
        if (!seated.has(m.user)) {
          buttons.push(h("button", { class: "small", testid: `invite-${m.user}`, onclick: () => actions.invite(m.user) }, "Invite"));
        }
        if (isHost) {
          buttons.push(
            h(
              "button",
              { class: "small", testid: `admin-${m.user}`, onclick: () => actions.setAdmin(m.user, !isAdmin) },
              isAdmin ? "Unadmin" : "Admin",
            ),
          );
        }
        if (isHost || !isAdmin) {
          buttons.push(
            h("button", { class: "small danger", testid: `kick-${m.user}`, onclick: () => actions.kickMember(m.user, false) }, "Kick"),
            h("button", { class: "small danger", testid: `ban-${m.user}`, onclick: () => actions.kickMember(m.user, true) }, "Ban"),
          );
        }
      }
      return h(
        "li",
        { class: "member-item", testid: "member-item", dataset: { user: m.user } },
        avatar(m.user, m.name),
        h(
          "span",
          { class: "grow" },
          m.name || m.user,
          m.user === me ? " (you)" : "",
          isAdmin ? h("span", { class: "flag role" }, "admin") : null,
          seated.has(m.user) ? h("span", { class: "flag" }, `seat ${seated.get(m.user) + 1}`) : null,
        ),
        ...buttons,
      );
    }),
  );
}

/** Lights the ring of whoever speaks; cheap enough for five updates a second. */
export function updateSpeaking(app) {
  for (const tile of document.querySelectorAll("#seat-grid .seat")) {
    const user = tile.dataset.user;
    const level = user ? app.levels.get(user) || 0 : 0;
    // A muted voice is not in the mix: no ring, whatever its microphone picks up.
    const silenced = tile.dataset.muted === "true" || tile.dataset.selfMuted === "true";
    const speaking = !silenced && level >= SPEAKING_THRESHOLD;
    tile.classList.toggle("speaking", speaking);
    tile.dataset.speaking = speaking ? "true" : "false";
    tile.style.setProperty("--level", Math.min(1, level).toFixed(2));
  }
}
