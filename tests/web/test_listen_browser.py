"""A Chromium `<audio>` element plays a room's listen.ogg: Debian's Chromium through
Playwright (launched as tests/web/test_browser.py does), a speaker on real WebRTC playing a
tone; the element's time advances without an error and Web Audio's analyser, fed by the
element, finds the speaker's tone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from tests.support.rtc import connect, tone_peer
from tests.support.server import RunningServer, running_server
from tests.web.test_browser import CHROMIUM_ARGS, Person, chromium_path, sign_in

TONE = 880.0

PLAY = """async (src) => {
  const audio = new Audio();
  audio.crossOrigin = "anonymous";
  window.errors = [];
  audio.onerror = () => window.errors.push(String(audio.error && audio.error.code));
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 8192;
  ctx.createMediaElementSource(audio).connect(analyser);
  analyser.connect(ctx.destination);
  window.player = {audio, ctx, analyser};
  audio.src = src;
  await audio.play();
  await ctx.resume();
  return true;
}"""

MEASURE = """(freq) => {
  const {audio, ctx, analyser} = window.player;
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  const at = (f) => bins[Math.round(f / (ctx.sampleRate / analyser.fftSize))];
  return {time: audio.currentTime, paused: audio.paused, errors: window.errors,
          tone: at(freq), off: at(freq * 1.7)};
}"""


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    async with running_server(media=True) as running:
        yield running


async def test_chromium_audio_element_plays_the_room(server: RunningServer) -> None:
    executable = chromium_path()
    host = await server.client("host")
    rid = (await host.call("create_room", title="radio"))["room"]["id"]

    async def send(sdp: str) -> str:
        return str((await host.call("webrtc_offer", room=rid, sdp=sdp))["sdp"])

    peer = await connect(tone_peer(TONE, receive=False), send)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                base = f"http://{server.host}:{server.port}"
                await page.goto(base + "/healthz")  # same origin: the analyser may read it
                await page.evaluate(PLAY, f"{base}/rooms/{rid}/listen.ogg")
                await page.wait_for_function("window.player.audio.currentTime > 2.0",
                                             timeout=20_000)
                state = await page.evaluate(MEASURE, TONE)
                assert not state["paused"] and state["errors"] == [] and errors == []
                # dB re full scale: the tone stands far above a bin away from it.
                assert state["tone"] > -60 and state["tone"] > state["off"] + 30, state
            finally:
                await browser.close()
    finally:
        await peer.close()
        await host.close()


async def test_the_page_shows_when_the_room_is_recorded(tmp_path: Path) -> None:
    executable = chromium_path()
    async with running_server(media=True, recordings=tmp_path) as server:
        host = await server.client("host")
        rid = (await host.call("create_room", title="on tape"))["room"]["id"]
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context()
                person = Person(context, await context.new_page(), "listener")
                await sign_in(person, server, "Lena", hash=f"#room={rid}")
                await expect(person.tid("room-title")).to_have_text("on tape")
                mark = person.tid("recording-mark")
                await expect(mark).to_be_hidden()
                await host.call("start_recording", room=rid)
                await expect(mark).to_be_visible()
                await host.call("stop_recording", room=rid)
                await expect(mark).to_be_hidden()
                await host.call("start_recording", room=rid)
                # A late joiner learns it from the room's state.
                late = Person(context, await context.new_page(), "late")
                await sign_in(late, server, "Lars", hash=f"#room={rid}")
                await expect(late.tid("recording-mark")).to_be_visible()
                person.assert_no_page_errors()
            finally:
                await browser.close()
        await host.close()
