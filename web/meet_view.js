// Rendering of "meet someone": the lobby's panel (the form, the waiting animation, the last
// peer's card) and, during a match, the peer's card with Next / Report / Block inside the call
// view. No protocol here: the state is meet_state.js's, what the user types waits in `draft`
// (so a render never loses it), the buttons call `actions` (meet.js).

import { $, avatar, h } from "./dom.js";
import { canAskSameCity, sharedTags, statusText } from "./meet_state.js";

function button(text, testid, onclick, cls = "") {
  return h("button", { type: "button", class: cls, testid, onclick }, text);
}

/** The peer's card: who, from where, what they like (the tags we share first). */
function card(s, peer, testid) {
  const shared = new Set(sharedTags(s, peer).map((t) => t.toLowerCase()));
  const tags = [...(peer.tags || [])].sort((a, b) => Number(shared.has(b.toLowerCase())) - Number(shared.has(a.toLowerCase())));
  return h(
    "div",
    { class: "meet-card", testid, dataset: { user: peer.user } },
    avatar(peer.user, peer.name),
    h(
      "div",
      { class: "grow" },
      h("div", { class: "meet-name", testid: `${testid}-name` }, peer.name || peer.user),
      h("div", { class: "meet-city", testid: `${testid}-city` }, peer.city || "City not given"),
      h(
        "div",
        { class: "meet-tags", testid: `${testid}-tags` },
        tags.map((t) => h("span", { class: shared.has(t.toLowerCase()) ? "flag tag shared" : "flag tag" }, `#${t}`)),
      ),
    ),
  );
}

function reportForm(draft, actions) {
  const input = h("input", {
    name: "reason",
    testid: "meet-report-reason",
    maxlength: 140,
    placeholder: "What happened? (moderators read this)",
    value: draft.reason,
    oninput: (ev) => {
      draft.reason = ev.target.value;
    },
  });
  return h(
    "form",
    {
      class: "meet-report-form",
      testid: "meet-report-form",
      onsubmit: (ev) => {
        ev.preventDefault();
        actions.report(draft.reason);
      },
    },
    input,
    h("button", { type: "submit", class: "small danger", testid: "meet-report-send" }, "Send report"),
    button("Cancel", "meet-report-cancel", () => actions.openReport(false), "small"),
  );
}

function peerButtons(s, actions, prefix) {
  const card = s.peer || s.last;
  const done = card && s.reported.includes(card.user);
  return h(
    "div",
    { class: "meet-actions" },
    prefix === "meet" ? button("Next", "meet-next", actions.next, "round primary") : null,
    button(done ? "Reported" : "Report", `${prefix}-report`, () => actions.openReport(true), prefix === "meet" ? "round" : "small"),
    button("Block", `${prefix}-block`, actions.block, prefix === "meet" ? "round decline" : "small danger"),
  );
}

function form(s, draft, actions) {
  const radio = (value, text, disabled) =>
    h(
      "label",
      { class: "meet-choice" },
      h("input", {
        type: "radio",
        name: "meet-city",
        value,
        testid: `meet-city-${value}`,
        checked: draft.city === value,
        disabled,
        onchange: () => {
          draft.city = value;
        },
      }),
      text,
    );
  const home = s.city
    ? null
    : h(
        "div",
        { class: "meet-home" },
        h("input", {
          testid: "meet-home",
          maxlength: 64,
          placeholder: "Your city",
          value: draft.home,
          oninput: (ev) => {
            draft.home = ev.target.value;
          },
        }),
        button("Save", "meet-home-save", () => actions.setHome(draft.home), "small"),
      );
  return h(
    "form",
    {
      class: "meet-form",
      testid: "meet-form",
      autocomplete: "off",
      onsubmit: (ev) => {
        ev.preventDefault();
        actions.start();
      },
    },
    h(
      "fieldset",
      { class: "meet-cities" },
      h("legend", {}, "Who"),
      radio("any", s.city ? `Anyone (${s.city} first)` : "Anyone", false),
      radio("same", s.city ? `Only people from ${s.city}` : "Only my city (set your city first)", !canAskSameCity(s)),
      home,
    ),
    h(
      "label",
      {},
      "What you like (comma separated)",
      h("input", {
        testid: "meet-tags",
        maxlength: 260,
        placeholder: "music, hiking, cats",
        value: draft.tags,
        oninput: (ev) => {
          draft.tags = ev.target.value;
        },
      }),
    ),
    h("button", { type: "submit", class: "primary wide", testid: "meet-start" }, s.phase === "ended" ? "Meet someone else" : "Meet someone"),
    s.error ? h("p", { class: "form-error", testid: "meet-error" }, s.error) : null,
  );
}

/** The lobby's panel. */
export function renderMeet(s, draft, actions) {
  const panel = $("meet-panel");
  if (!panel) return;
  panel.dataset.phase = s.phase;
  const parts = [h("p", { class: "meet-status", testid: "meet-status" }, statusText(s))];
  if (s.phase === "idle" || s.phase === "ended") {
    if (s.phase === "ended" && s.last) {
      parts.push(card(s, s.last, "meet-last"), peerButtons(s, actions, "meet-last"));
      if (s.reporting) parts.push(reportForm(draft, actions));
    }
    parts.push(form(s, draft, actions));
  } else if (s.phase === "joining" || s.phase === "waiting") {
    parts.push(
      h(
        "div",
        { class: "meet-waiting", testid: "meet-waiting", dataset: { phase: s.phase } },
        h("span", { class: "ring" }),
        h("span", { class: "ring" }),
        h("span", { class: "ring" }),
        avatar(s.me, s.me),
      ),
      h("p", { class: "hint" }, s.prefs.city === "same" ? "Only people from your city." : "Anyone, your city first."),
      button("Stop looking", "meet-stop", actions.stop, "small"),
    );
  }
  $("meet-body").replaceChildren(...parts);
  renderMatchBar(s, draft, actions);
}

/** Inside the call view while the call is a match: the peer's card and what to do next. */
function renderMatchBar(s, draft, actions) {
  const bar = $("match-bar");
  if (!bar) return;
  const on = s.phase === "matched" && Boolean(s.peer);
  bar.hidden = !on;
  if (!on) {
    bar.replaceChildren();
    return;
  }
  const parts = [card(s, s.peer, "meet-card"), peerButtons(s, actions, "meet")];
  if (s.reporting) parts.push(reportForm(draft, actions));
  bar.replaceChildren(...parts);
}
