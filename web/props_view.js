// The props panel (docs/protocol.md "Props"): the user's voice effect, the server's sounds,
// dice and cards for everyone, music for the host and admins, the last rolls and cards. The
// same panel serves a room (testids `props-*`) and a call (`call-props-*`); every control
// calls one of `actions` (props.js).

import { h } from "./dom.js";
import * as ps from "./props_state.js";

/** Fill `container` from the props state; `allowed` is props_state.may(...)[where]. */
export function renderProps(container, s, { where, allowed, actions }) {
  if (!container) return;
  const p = where === "call" ? "call-props" : "props";
  const parts = [h("h3", {}, where === "call" ? "Fun" : "Props")];

  if (allowed.effect) {
    const mine = ps.effectOf(s, s.me, where);
    const select = h(
      "select",
      { testid: `${p}-effect`, "aria-label": "Your voice", onchange: (ev) => actions.effect(where, ev.target.value) },
      ...ps.EFFECTS.map((effect) => h("option", { value: effect, selected: effect === mine }, ps.effectName(effect))),
    );
    parts.push(h("label", { class: "props-row" }, "Your voice", select));
  }

  if (allowed.sound && s.sounds.length) {
    parts.push(
      h(
        "div",
        { class: "props-sounds", testid: `${p}-sounds` },
        ...s.sounds.map((sound) =>
          h("button", { class: "small", testid: `${p}-sound-${sound.id}`, title: `${sound.seconds} s`, onclick: () => actions.sound(where, sound.id) }, sound.title),
        ),
      ),
    );
  }

  if (allowed.games) {
    const count = h(
      "select",
      { testid: `${p}-dice-count`, "aria-label": "How many dice" },
      ...Array.from({ length: ps.DICE_MAX }, (_, i) => h("option", { value: i + 1 }, `${i + 1} ${i ? "dice" : "die"}`)),
    );
    parts.push(
      h(
        "div",
        { class: "props-row props-games-buttons" },
        count,
        h("button", { class: "small primary", testid: `${p}-roll`, onclick: () => actions.roll(where, Number(count.value)) }, "Roll"),
        ...ps.DECKS.map((deck) => h("button", { class: "small", testid: `${p}-card-${deck}`, onclick: () => actions.card(where, deck) }, ps.DECK_NAMES[deck])),
      ),
    );
  }

  if (where === "room") parts.push(...musicPart(s, allowed, actions));

  const games = s.games.filter((g) => g.where === where);
  if (games.length) {
    const who = (g) => (g.user === s.me ? "You" : g.name || g.user);
    parts.push(
      h("div", { class: "props-last", testid: `${p}-last-game` }, ps.gameText(games[0], who(games[0]))),
      h("ul", { class: "list props-games", testid: `${p}-games` }, ...games.slice(1).map((g) => h("li", { testid: `${p}-game` }, ps.gameText(g, who(g))))),
    );
  }
  container.replaceChildren(...parts);
}

function musicPart(s, allowed, actions) {
  const status = h("div", { class: "props-music", testid: "props-music", dataset: { playing: String(s.music.playing) } }, ps.musicText(s));
  if (!allowed.music) return s.music.playing ? [status] : [];
  if (!s.tracks.length) return [status];
  const track = h(
    "select",
    { testid: "props-track", "aria-label": "Track" },
    ...s.tracks.map((t) => h("option", { value: t.id, selected: t.id === s.music.track }, t.title)),
  );
  const loop = h("input", { type: "checkbox", testid: "props-loop", checked: s.music.playing ? s.music.loop : true });
  const volume = h("input", {
    type: "range",
    min: 0,
    max: 100,
    value: Math.round(s.music.volume * 100),
    testid: "props-volume",
    "aria-label": "Music volume",
    onchange: (ev) => actions.volume(Number(ev.target.value) / 100),
  });
  return [
    status,
    h(
      "div",
      { class: "props-row" },
      track,
      h("label", { class: "props-inline" }, loop, "loop"),
      h("button", { class: "small primary", testid: "props-play", onclick: () => actions.playMusic(track.value, loop.checked) }, "Play"),
      h("button", { class: "small", testid: "props-stop", disabled: !s.music.playing, onclick: () => actions.stopMusic() }, "Stop"),
    ),
    h("label", { class: "props-row" }, "Volume", volume),
  ];
}
