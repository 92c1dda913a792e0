// Rendering: builds the page's DOM from the app's state. No protocol here; every button
// calls one of the `actions` the app passes in. User text only ever goes in as text nodes.

// Levels are linear in dB from -60 dBFS (0.0) to 0 dBFS (1.0); speech starts near -45 dBFS.
const SPEAKING_THRESHOLD = 0.2;
const NOTICE_MS = 8000;
const CHAT_KEEP = 200;

/** h("div", {class: "x", dataset: {...}, onclick}, child, ...) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "testid") el.dataset.testid = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const $ = (id) => document.getElementById(id);

const SVG_NS = "http://www.w3.org/2000/svg";
const ICONS = {
  mic: ["M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.92V21h2v-3.08A7 7 0 0 0 19 11h-2z"],
  micOff: [
    "M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.92V21h2v-3.08A7 7 0 0 0 19 11h-2z",
    "M3.7 2.3 2.3 3.7l18 18 1.4-1.4z",
  ],
  lock: ["M7 10V7a5 5 0 0 1 10 0v3h1a1 1 0 0 1 1 1v9a1 1 0 0 1-1 1H6a1 1 0 0 1-1-1v-9a1 1 0 0 1 1-1h1zm2 0h6V7a3 3 0 0 0-6 0v3z"],
  hand: ["M8 11V5a1.5 1.5 0 0 1 3 0v5h1V3.5a1.5 1.5 0 0 1 3 0V10h1V5.5a1.5 1.5 0 0 1 3 0V14a7 7 0 0 1-7 7h-1a7 7 0 0 1-5.6-2.8L2.6 14.4a1.5 1.5 0 0 1 2.3-1.9L8 15z"],
};

/** A small inline icon (fonts in kiosks and CI often lack emoji). */
export function icon(name) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.classList.add("icon");
  for (const d of ICONS[name]) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

function initials(name) {
  const parts = String(name || "?").trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[1][0] : (parts[0] || "?").slice(0, 2);
  return letters.toUpperCase();
}

// A stable hue per user, so the avatars are told apart at a glance.
function hue(user) {
  let n = 0;
  for (const c of String(user)) n = (n * 31 + c.charCodeAt(0)) % 360;
  return n;
}

function avatar(user, name) {
  if (!user) return h("div", { class: "avatar empty" }, "+");
  const el = h("div", { class: "avatar" }, initials(name || user));
  el.style.setProperty("--hue", hue(user));
  return el;
}

function flag(testid, cls, text, title) {
  return h("span", { class: `flag ${cls}`, testid, title }, text);
}

export function showView(name) {
  for (const view of ["signin", "lobby", "room"]) $(`${view}-view`).hidden = view !== name;
  document.body.dataset.view = name;
}

export function notify(text, kind = "info") {
  const box = $("notices");
  const note = h("div", { class: `notice ${kind}`, testid: "notice", role: kind === "error" ? "alert" : "status", dataset: { kind } }, text);
  const close = h("button", { class: "notice-close", "aria-label": "Dismiss", onclick: () => note.remove() }, "×");
  note.append(close);
  box.append(note);
  setTimeout(() => note.remove(), NOTICE_MS);
  while (box.children.length > 5) box.firstChild.remove();
}

export function setBanner(text, action) {
  const banner = $("banner");
  banner.replaceChildren();
  if (!text) {
    banner.hidden = true;
    return;
  }
  banner.append(h("span", {}, text));
  if (action) banner.append(h("button", { testid: "banner-action", onclick: action.run }, action.label));
  banner.hidden = false;
}

export function renderIdentity(session) {
  const me = $("me");
  me.replaceChildren();
  if (!session || !session.user) return;
  me.append(
    avatar(session.user, session.name),
    h("span", { class: "me-name", testid: "me-name" }, session.name || session.user),
  );
}

export function renderRoomList(rooms, actions) {
  const list = $("room-list");
  list.replaceChildren();
  if (!rooms.length) {
    list.append(h("li", { class: "empty-list", testid: "no-rooms" }, "No rooms yet. Create the first one."));
    return;
  }
  for (const r of rooms) {
    const host = typeof r.host === "object" && r.host ? r.host.name || r.host.user : r.host;
    list.append(
      h(
        "li",
        { class: "room-item", testid: "room-item", dataset: { room: r.id } },
        h(
          "div",
          { class: "room-item-text" },
          h("div", { class: "room-item-title" }, r.title),
          h(
            "div",
            { class: "room-item-meta" },
            h("span", { class: `badge mode-${r.mode}` }, r.mode === "chatroom" ? "Chatroom" : "Live"),
            ` hosted by ${host ?? "?"} · ${r.audience_count} listening · ${r.seated ?? 0} on seats`,
          ),
        ),
        h("button", { class: "primary", testid: `join-${r.id}`, onclick: () => actions.join(r.id) }, "Join"),
      ),
    );
  }
}

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
  $("audience-count").textContent = `${room.audience_count} in the audience`;
  $("audience-count").dataset.count = room.audience_count;
  $("my-role").textContent = isHost ? "You are the host" : app.role === "admin" ? "You are an admin" : mySeat ? "You are on a seat" : "You are listening";
  $("seat-mode").textContent = room.seat_mode === "free" ? "Free seating" : "Seats by request";

  renderSeats(app, actions, { isHost, isMod, mySeat });
  renderControls(app, actions, { isHost, isMod, mySeat });
  renderQueue(app, actions, isMod);
  renderMembers(app, actions, { isHost, isMod });
  updateSpeaking(app);
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
        h("div", { class: "ring" }, seat.locked && !seat.user ? h("div", { class: "avatar empty" }, icon("lock")) : avatar(seat.user, seat.name)),
        h("div", { class: "seat-name", testid: `seat-${i}-name` }, label, mine ? " (you)" : ""),
        h(
          "div",
          { class: "seat-flags" },
          seat.muted && flag(`seat-${i}-muted`, "muted", "muted", "Muted by the host"),
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
    const by = app.nameOf(app.invite.by);
    items.push(
      h(
        "div",
        { class: "invite", testid: "invite" },
        h("span", {}, `${by} invites you to seat ${app.invite.seat + 1}.`),
        h("button", { class: "primary", testid: "invite-accept", onclick: () => actions.answerInvite(true) }, "Accept"),
        h("button", { testid: "invite-decline", onclick: () => actions.answerInvite(false) }, "Decline"),
      ),
    );
  }

  const speaking = isHost || mySeat;
  if (speaking) {
    const selfMuted = isHost ? room.host.self_muted : mySeat.self_muted;
    items.push(
      h(
        "button",
        {
          class: `toggle${selfMuted ? " off" : " on"}`,
          testid: "self-mute",
          "aria-pressed": selfMuted ? "true" : "false",
          onclick: () => actions.selfMute(!selfMuted),
        },
        icon(selfMuted ? "micOff" : "mic"),
        selfMuted ? "Mic off: unmute" : "Mic on: mute",
      ),
    );
    if (mySeat && mySeat.muted) {
      items.push(h("span", { class: "hint", testid: "muted-by-host" }, "The host muted your seat."));
    }
  }
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

function renderQueue(app, actions, isMod) {
  const list = $("queue-list");
  if (!isMod) {
    list.replaceChildren();
    return;
  }
  const queue = app.room.queue || [];
  $("queue-count").textContent = queue.length ? `(${queue.length})` : "";
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
  $("member-count").textContent = rows.length ? `(${rows.length})` : "";
  if (!rows.length) {
    list.replaceChildren(h("li", { class: "empty-list" }, "No listeners seen yet."));
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

export function appendChat(msg, mine) {
  const log = $("chat-log");
  const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(
    h(
      "li",
      { class: `chat-line${mine ? " mine" : ""}${msg.system ? " system" : ""}`, testid: "chat-line", dataset: { user: msg.user || "" } },
      msg.system ? null : h("span", { class: "chat-name" }, msg.name || msg.user),
      h("span", { class: "chat-text" }, msg.text),
    ),
  );
  while (log.children.length > CHAT_KEEP) log.firstChild.remove();
  if (nearBottom || mine) log.scrollTop = log.scrollHeight;
}

export function clearChat() {
  $("chat-log").replaceChildren();
}

export function setAudioStatus(state, text) {
  const el = $("audio-status");
  el.dataset.state = state;
  $("audio-status-text").textContent = text;
  $("enable-sound").hidden = state !== "blocked";
}

export function setMicProblem(text) {
  const el = $("mic-problem");
  el.hidden = !text;
  $("mic-problem-text").textContent = text || "";
}
