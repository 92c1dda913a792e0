// Rendering of the people panel: the searched user's card, friends with online dots, the
// follows waiting on one side, and the users we block (each with Unblock). No protocol here:
// the state is people_state.js's, the buttons call `actions` (people.js).

import { $, avatar, h } from "./dom.js";
import { blockedList, friendList, pendingFollows, relationOf, waitingFollowers } from "./people_state.js";

const RELATION_TEXT = {
  friend: "Friends",
  following: "You follow them",
  follower: "Follows you",
  blocked: "Blocked",
  self: "This is you",
  none: "",
};

function small(text, testid, onclick, cls = "") {
  return h("button", { class: `small ${cls}`.trim(), testid, onclick }, text);
}

function callButtons(user, actions, prefix = "") {
  return [
    small("Call", `${prefix}call-${user}`, () => actions.call(user, false), "primary"),
    small("Video", `${prefix}video-${user}`, () => actions.call(user, true)),
  ];
}

function foundCard(s, actions) {
  const p = s.found;
  if (!p) return null;
  if (p.missing) {
    return h("p", { class: "hint", testid: "people-missing" }, `No user “${p.user}”: they have never signed in.`);
  }
  const rel = relationOf(s, p.user);
  const facts = [
    p.verified ? h("span", { class: "flag verified" }, "verified") : null,
    p.city ? h("span", { class: "flag" }, p.city) : null,
    ...(p.tags || []).map((t) => h("span", { class: "flag tag" }, `#${t}`)),
  ];
  const buttons = [];
  if (rel === "blocked") buttons.push(small("Unblock", "unblock-btn", () => actions.unblock(p.user)));
  else if (rel !== "self") {
    if (rel === "friend" || rel === "following") buttons.push(small("Unfollow", "unfollow-btn", () => actions.unfollow(p.user)));
    else buttons.push(small(rel === "follower" ? "Follow back" : "Follow", "follow-btn", () => actions.follow(p.user, p.name), "primary"));
    if (rel === "friend") buttons.push(...callButtons(p.user, actions, "card-"));
    buttons.push(small("Block", "block-btn", () => actions.block(p.user), "danger"));
  }
  return h(
    "div",
    { class: "person-card", testid: "person-card", dataset: { user: p.user, relation: rel } },
    h(
      "div",
      { class: "person-head" },
      avatar(p.user, p.name),
      h(
        "div",
        { class: "grow" },
        h("div", { class: "person-name" }, p.name || p.user, p.online !== undefined ? dot(p.online) : null),
        h("div", { class: "person-meta" }, `@${p.user}`, RELATION_TEXT[rel] ? ` · ${RELATION_TEXT[rel]}` : ""),
      ),
    ),
    facts.some(Boolean) ? h("div", { class: "person-facts" }, facts) : null,
    p.bio ? h("p", { class: "person-bio" }, p.bio) : null,
    h("div", { class: "person-actions" }, buttons),
  );
}

function dot(online) {
  return h("span", {
    class: `online-dot${online ? " on" : ""}`,
    testid: "online-dot",
    dataset: { online: String(Boolean(online)) },
    title: online ? "online" : "offline",
    "aria-label": online ? "online" : "offline",
  });
}

function personRow(u, testid, extra, actions) {
  return h(
    "li",
    { testid, dataset: { user: u.user } },
    avatar(u.user, u.name),
    h("button", { class: "linklike grow", onclick: () => actions.show(u.user), title: `@${u.user}` }, u.name || u.user),
    extra,
  );
}

export function renderPeople(s, actions) {
  $("people-found").replaceChildren(...[foundCard(s, actions)].filter(Boolean));

  const friends = friendList(s);
  $("friend-count").textContent = friends.length ? String(friends.length) : "";
  const list = $("friend-list");
  list.replaceChildren();
  if (!friends.length) {
    list.append(h("li", { class: "empty-list" }, s.loaded ? "No friends yet: find someone and follow each other." : "Loading…"));
  }
  for (const f of friends) {
    const row = personRow(f, `friend-${f.user}`, callButtons(f.user, actions), actions);
    row.dataset.online = String(Boolean(f.online));
    row.prepend(dot(f.online));
    list.append(row);
  }

  const box = $("people-requests");
  box.replaceChildren();
  const waiting = waitingFollowers(s);
  if (waiting.length) {
    box.append(
      h("h3", {}, "Follow you"),
      h("ul", { class: "list", testid: "followers-waiting" }, waiting.map((u) => personRow(u, `follower-${u.user}`, [small("Follow back", `follow-back-${u.user}`, () => actions.follow(u.user, u.name), "primary")], actions))),
    );
  }
  const pending = pendingFollows(s);
  if (pending.length) {
    box.append(
      h("h3", {}, "Waiting for a follow back"),
      h("ul", { class: "list", testid: "follows-pending" }, pending.map((u) => personRow(u, `following-${u.user}`, [], actions))),
    );
  }

  // A fixed <details> (index.html), folded until asked for: it keeps its open state across
  // renders, and on a phone the list does not push the rooms down.
  const blocked = blockedList(s);
  $("blocked-box").hidden = !blocked.length;
  $("blocked-count").textContent = blocked.length ? String(blocked.length) : "";
  $("blocked-list").replaceChildren(...blocked.map((u) => personRow(u, `blocked-${u.user}`, [small("Unblock", `unblock-${u.user}`, () => actions.unblock(u.user))], actions)));
}
