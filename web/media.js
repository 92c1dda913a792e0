// Room audio over WebRTC: one peer connection per room, full (non-trickle) offers sent
// through the signaling socket, a re-offer whenever the sending direction changes.

const ICE_GATHER_TIMEOUT_MS = 5000;
const RESTART_MIN_INTERVAL_MS = 3000;
// ICE says "disconnected" after a few seconds without packets; give it this long to recover.
const DISCONNECTED_GRACE_MS = 4000;
const STALL_WINDOW_MS = 1500;

async function inboundAudioBytes(pc) {
  let bytes = 0;
  (await pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "audio") bytes += r.bytesReceived || 0;
  });
  return bytes;
}

/** Why the microphone could not be used, in words for the user. */
export function describeMicError(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError") {
    return "Microphone access was denied, so nobody can hear you. Allow the microphone for this site and press “Retry microphone”.";
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") {
    return "No microphone was found. Plug one in and press “Retry microphone”.";
  }
  if (name === "NotReadableError" || name === "AbortError") {
    return "The microphone is busy or unavailable (another application may hold it).";
  }
  if (name === "NoMediaDevices") {
    return "This browser gives no microphone access here (the page needs https or localhost).";
  }
  return `The microphone could not be started: ${(err && err.message) || err}`;
}

function sdpLines(sdp, prefix) {
  return sdp
    .split(/\r?\n/)
    .filter((l) => l.startsWith(prefix))
    .sort()
    .join("\n");
}

// The server built a new peer (instead of renegotiating) when its DTLS identity or ICE
// credentials changed between answers.
function samePeer(oldAnswer, newAnswer) {
  return (
    sdpLines(oldAnswer, "a=fingerprint:") === sdpLines(newAnswer, "a=fingerprint:") &&
    sdpLines(oldAnswer, "a=ice-ufrag:") === sdpLines(newAnswer, "a=ice-ufrag:")
  );
}

export function waitForIceGathering(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    // Without STUN the host candidates come fast; never hang on a stuck gatherer.
    const timer = setTimeout(done, ICE_GATHER_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

export class MediaLink {
  /**
   * @param {object} opts
   * @param {(sdp: string) => Promise<string>} opts.sendOffer  sends webrtc_offer, resolves with the answer sdp
   * @param {HTMLAudioElement} opts.audio  plays the room mix
   * @param {(status: string, err?: Error) => void} opts.onStatus  "connecting" | "connected" |
   *   "failed" | "closed" | "blocked"
   * @param {(message: string|null) => void} opts.onMicProblem  a microphone problem, or null when solved
   */
  constructor({ sendOffer, audio, onStatus, onMicProblem }) {
    this.sendOffer = sendOffer;
    this.audio = audio;
    this.onStatus = onStatus || (() => {});
    this.onMicProblem = onMicProblem || (() => {});
    this.pc = null;
    this.transceiver = null;
    this.remoteAnswer = null;
    this.micStream = null;
    this.wantSend = false;
    this.micEnabled = true;
    this.active = false;
    this.sending = false;
    this.queue = Promise.resolve();
    this.lastRestart = 0;
    // Learned from the first re-offer: does the server renegotiate, or answer with a new peer?
    this.serverReplacesPeer = false;
    // How many negotiations were asked for (each one an offer or two): churn shows here.
    this.negotiations = 0;
  }

  /** Starts (or re-starts) the room audio; `send` asks for the microphone. */
  start(send) {
    this.active = true;
    this.wantSend = send;
    return this.#enqueue(() => this.#negotiate(true));
  }

  /** Changes the direction: sendrecv when seated or host, recvonly otherwise. */
  setSending(send) {
    if (!this.active || send === this.wantSend) return this.queue;
    this.wantSend = send;
    return this.#enqueue(() => this.#negotiate(false));
  }

  /** Asks for the microphone again after a denial. */
  retryMicrophone() {
    if (!this.active) return this.queue;
    return this.#enqueue(() => this.#negotiate(false, true));
  }

  /** Self-mute also silences the track locally, so nothing leaves the browser. */
  setMicEnabled(enabled) {
    this.micEnabled = enabled;
    if (this.micStream) for (const t of this.micStream.getAudioTracks()) t.enabled = enabled;
  }

  /** True when the room's audio is arriving now (bytes grow over a short window). */
  async isReceiving() {
    const pc = this.pc;
    if (!pc || pc.connectionState !== "connected") return false;
    const before = await inboundAudioBytes(pc);
    await new Promise((resolve) => setTimeout(resolve, STALL_WINDOW_MS));
    if (pc !== this.pc) return true; // replaced meanwhile: the new one is being set up
    return (await inboundAudioBytes(pc)) > before;
  }

  /** Offers again if the room's audio stopped (its media may have moved to another node). */
  async restartIfStalled() {
    if (!this.active || (await this.isReceiving())) return;
    if (this.active) await this.#enqueue(() => this.#negotiate(true));
  }

  stop() {
    this.active = false;
    this.wantSend = false;
    this.negotiations -= 1; // closing is not a negotiation
    return this.#enqueue(async () => {
      this.#closePeer();
      this.#releaseMic();
      this.audio.srcObject = null;
      this.onStatus("closed");
    });
  }

  #enqueue(job) {
    this.negotiations += 1;
    // One negotiation at a time: offers and answers must not interleave.
    this.queue = this.queue.then(job).catch((err) => {
      // The next negotiation starts from a fresh peer connection.
      this.remoteAnswer = null;
      this.onStatus("failed", err);
    });
    return this.queue;
  }

  async #microphone(forceRetry) {
    if (this.micStream && !forceRetry) {
      const live = this.micStream.getAudioTracks().find((t) => t.readyState === "live");
      if (live) return live;
    }
    this.#releaseMic();
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      this.onMicProblem(describeMicError({ name: "NoMediaDevices" }));
      return null;
    }
    try {
      this.micStream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
        video: false,
      });
    } catch (err) {
      this.onMicProblem(describeMicError(err));
      return null;
    }
    this.onMicProblem(null);
    const track = this.micStream.getAudioTracks()[0];
    track.enabled = this.micEnabled;
    return track;
  }

  #releaseMic() {
    if (this.micStream) for (const t of this.micStream.getTracks()) t.stop();
    this.micStream = null;
  }

  #closePeer() {
    if (this.pc) {
      this.pc.onconnectionstatechange = null;
      this.pc.ontrack = null;
      this.pc.close();
    }
    this.pc = null;
    this.transceiver = null;
    this.remoteAnswer = null;
    this.sending = false;
  }

  #newPeer() {
    this.#closePeer();
    // No STUN: the server is reached directly, and public STUN timeouts only slow ICE down.
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    this.transceiver = pc.addTransceiver("audio", { direction: "recvonly" });
    pc.ontrack = (ev) => {
      this.audio.srcObject = ev.streams && ev.streams[0] ? ev.streams[0] : new MediaStream([ev.track]);
      const playing = this.audio.play();
      if (playing) playing.catch(() => this.onStatus("blocked"));
    };
    pc.onconnectionstatechange = () => {
      const state = pc.connectionState;
      if (state === "connected") this.onStatus("connected");
      else if (state === "failed") {
        this.onStatus("failed");
        this.#restartSoon();
      } else if (state === "disconnected") {
        setTimeout(() => {
          if (this.pc === pc && pc.connectionState === "disconnected") this.#restartSoon(true);
        }, DISCONNECTED_GRACE_MS);
      } else if (state === "connecting" || state === "new") this.onStatus("connecting");
    };
    return pc;
  }

  #restartSoon(evenIfDisconnected = false) {
    if (!this.active) return;
    const pc = this.pc;
    const wait = Math.max(0, this.lastRestart + RESTART_MIN_INTERVAL_MS - Date.now());
    setTimeout(() => {
      const state = pc && pc.connectionState;
      const broken = state === "failed" || (evenIfDisconnected && state === "disconnected");
      if (this.active && this.pc === pc && broken) this.#enqueue(() => this.#negotiate(true));
    }, wait);
  }

  async #offer(pc) {
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    await waitForIceGathering(pc);
    return this.sendOffer(pc.localDescription.sdp);
  }

  async #negotiate(fresh, forceMic = false) {
    if (!this.active) return;
    const track = this.wantSend ? await this.#microphone(forceMic) : null;
    if (!this.wantSend) this.#releaseMic();
    if (!this.active) return;

    const reuse =
      !fresh && !this.serverReplacesPeer && this.pc && this.remoteAnswer && this.pc.connectionState !== "failed";
    if (reuse) {
      await this.#apply(this.pc, track);
      const answer = await this.#offer(this.pc);
      if (samePeer(this.remoteAnswer, answer)) {
        await this.pc.setRemoteDescription({ type: "answer", sdp: answer });
        this.remoteAnswer = answer;
        this.sending = Boolean(track);
        return;
      }
      // The server answered with a new peer: start over with a peer connection of our own,
      // and from now on go straight to a fresh one.
      this.serverReplacesPeer = true;
    }
    this.lastRestart = Date.now();
    this.onStatus("connecting");
    const pc = this.#newPeer();
    await this.#apply(pc, track);
    const answer = await this.#offer(pc);
    if (pc !== this.pc) return; // replaced while we waited
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
    this.remoteAnswer = answer;
    this.sending = Boolean(track);
  }

  async #apply(pc, track) {
    const tr = this.transceiver;
    await tr.sender.replaceTrack(track);
    if (track) {
      // Sending needs a stream id on the sender so the answerer sees an msid.
      if (this.micStream && tr.sender.setStreams) tr.sender.setStreams(this.micStream);
      tr.direction = "sendrecv";
    } else {
      tr.direction = "recvonly";
    }
  }
}
