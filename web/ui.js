// Rendering of the page's fixed parts: views, notices, the banner, the lobby's room list, the
// chat log, the audio status. The room's seats and panels are room_view.js. No protocol here.

import { $, avatar, h } from "./dom.js";

// One notice at a time, in one place: a newer one replaces it (a phone has no room for a
// stack over its controls). Errors and questions stay a little longer.
const NOTICE_MS = { info: 5000, warn: 9000, error: 8000, request: 15000 };
const CHAT_KEEP = 200;
let noticeTimer = null;

export function showView(name) {
  for (const view of ["signin", "lobby", "room"]) $(`${view}-view`).hidden = view !== name;
  document.body.dataset.view = name;
}

/**
 * Shows `text`, replacing whatever notice shows. `key` names the state it is about (an
 * invitation, a muted seat, a waiting request): `clearNotice(key)` removes it when that state
 * ends. `actions`: buttons `{label, run, primary}` (the notice goes once one is pressed).
 */
export function notify(text, kind = "info", { key = "", actions = [] } = {}) {
  const box = $("notices");
  const note = h("div", { class: `notice ${kind}`, testid: "notice", role: kind === "error" ? "alert" : "status", dataset: { kind, key } }, h("span", { class: "notice-text" }, text));
  for (const action of actions) {
    note.append(
      h("button", { class: `small${action.primary ? " primary" : ""}`, testid: `notice-${action.testid || action.label.toLowerCase().replace(/\W+/g, "-")}`, onclick: () => { dismiss(); action.run(); } }, action.label),
    );
  }
  note.append(h("button", { class: "notice-close", "aria-label": "Dismiss", onclick: () => dismiss() }, "×"));
  box.replaceChildren(note);
  if (noticeTimer) clearTimeout(noticeTimer);
  noticeTimer = setTimeout(dismiss, NOTICE_MS[kind] || NOTICE_MS.info);
  function dismiss() {
    if (note.isConnected) note.remove();
  }
}

/** Removes the notice about `key` (or, with a prefix ending in ":", about any of its kind). */
export function clearNotice(key) {
  for (const note of $("notices").querySelectorAll(".notice")) {
    const k = note.dataset.key || "";
    if (k && (k === key || (key.endsWith(":") && k.startsWith(key)))) note.remove();
  }
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

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

/** A chat line (or, with `msg.system`, a line of what happened: joins and leaves). */
export function appendChat(msg, mine, at = new Date()) {
  const log = $("chat-log");
  const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const line = h(
      "li",
      {
        class: `chat-line${mine ? " mine" : ""}${msg.system ? " system" : ""}`,
        testid: msg.system ? "chat-system" : "chat-line",
        dataset: { user: msg.user || "" },
      },
      h("time", { class: "chat-time", testid: "chat-time", datetime: at.toISOString() }, clock.format(at)),
      msg.system ? null : h("span", { class: "chat-name" }, msg.name || msg.user),
      h("span", { class: "chat-text" }, msg.text),
    );
  log.append(line);
  while (log.children.length > CHAT_KEEP) log.firstChild.remove();
  if (nearBottom || mine) log.scrollTop = log.scrollHeight;
  return line;
}

/** Rewrites a line's text (a join line that gathers more names). */
export function setChatText(line, text) {
  const span = line.querySelector(".chat-text");
  if (span) span.textContent = text;
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
