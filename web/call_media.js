// A call's media: one RTCPeerConnection to the server for one call (docs/protocol.md "Calls
// (one to one)": the server relays each side's audio, and in a video call each side's VP8,
// to the other). A full (non-trickle) offer goes through `webrtc_offer {call, sdp}`.
//
// The microphone (and in a video call the camera) is asked for when the call goes live; a
// refusal still lets the call go on, receiving only, with a problem said in words.

import { describeMicError, waitForIceGathering } from "./media.js";

function vp8First(transceiver) {
  // The server relays VP8 without decoding it: offer VP8 alone, so both sides send it.
  const caps = window.RTCRtpReceiver && RTCRtpReceiver.getCapabilities && RTCRtpReceiver.getCapabilities("video");
  if (!caps || !transceiver.setCodecPreferences) return;
  const vp8 = caps.codecs.filter((c) => c.mimeType.toLowerCase() === "video/vp8");
  if (vp8.length) transceiver.setCodecPreferences(vp8);
}

function describeCameraError(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError") return "Camera access was denied: the other side cannot see you.";
  if (name === "NotFoundError" || name === "OverconstrainedError") return "No camera was found: the other side cannot see you.";
  if (name === "NotReadableError" || name === "AbortError") return "The camera is busy (another application may hold it).";
  return `The camera could not be started: ${(err && err.message) || err}`;
}

const CAMERA = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24 } };

export class CallLink {
  /**
   * @param {object} o
   * @param {string} o.callId
   * @param {boolean} o.video  a video call
   * @param {(sdp: string) => Promise<string>} o.sendOffer  webrtc_offer {call}, resolves with the answer sdp
   * @param {HTMLAudioElement} o.remoteAudio  plays the other side
   * @param {HTMLVideoElement} o.remoteVideo  shows the other side (video calls)
   * @param {HTMLVideoElement} o.localVideo  shows us (video calls; muted)
   * @param {(status: string, err?: Error) => void} o.onStatus  "connecting" | "connected" | "failed" | "closed"
   * @param {(text: string|null) => void} o.onProblem  a microphone or camera problem, in words
   * @param {(showing: boolean) => void} o.onRemoteVideo  whether the other side's picture arrives
   */
  constructor(o) {
    Object.assign(this, o);
    this.pc = null;
    this.stream = null; // our microphone (and camera) stream
    this.audioSender = null;
    this.videoSender = null;
    this.muted = false;
    this.closed = false;
  }

  async start() {
    this.onStatus("connecting");
    const problems = [];
    let mic = null;
    let cam = null;
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true }, video: this.video ? CAMERA : false });
    } catch (err) {
      // Perhaps only the camera failed: try the microphone alone.
      if (this.video) {
        problems.push(describeCameraError(err));
        try {
          this.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
        } catch (err2) {
          problems.push(describeMicError(err2));
        }
      } else {
        problems.push(describeMicError(err));
      }
    }
    if (this.closed) return this.#release();
    this.stream = this.stream || new MediaStream();
    mic = this.stream.getAudioTracks()[0] || null;
    cam = this.stream.getVideoTracks()[0] || null;
    if (mic) mic.enabled = !this.muted;
    this.onProblem(problems.length ? problems.join(" ") : null);

    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    const audio = pc.addTransceiver(mic || "audio", { direction: mic ? "sendrecv" : "recvonly", streams: [this.stream] });
    this.audioSender = audio.sender;
    if (this.video) {
      const video = pc.addTransceiver(cam || "video", { direction: "sendrecv", streams: [this.stream] });
      vp8First(video);
      this.videoSender = video.sender;
      this.localVideo.srcObject = cam ? new MediaStream([cam]) : null;
    }
    pc.ontrack = (ev) => this.#onTrack(ev.track);
    pc.onconnectionstatechange = () => {
      const state = pc.connectionState;
      if (this.pc !== pc) return;
      if (state === "connected") this.onStatus("connected");
      else if (state === "failed") this.onStatus("failed");
      else if (state === "disconnected") this.onStatus("connecting");
    };
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIceGathering(pc);
    if (this.closed) return this.#release();
    const answer = await this.sendOffer(pc.localDescription.sdp);
    if (this.closed || this.pc !== pc) return undefined;
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
    return undefined;
  }

  #onTrack(track) {
    if (track.kind === "audio") {
      this.remoteAudio.srcObject = new MediaStream([track]);
      const playing = this.remoteAudio.play();
      if (playing) playing.catch(() => this.onProblem("The browser blocked the call's sound: click anywhere on the page."));
    } else if (track.kind === "video") {
      this.remoteVideo.srcObject = new MediaStream([track]);
      this.remoteVideo.play().catch(() => {});
      // No frames for a while (their camera is off): show their avatar instead.
      track.onmute = () => this.onRemoteVideo(false);
      track.onunmute = () => this.onRemoteVideo(true);
      this.onRemoteVideo(!track.muted);
    }
  }

  setMuted(muted) {
    this.muted = muted;
    if (this.stream) for (const t of this.stream.getAudioTracks()) t.enabled = !muted;
  }

  /** Camera off stops it (its light goes out); on asks for it again. */
  async setCamera(on) {
    if (!this.videoSender || this.closed) return;
    if (!on) {
      for (const t of this.stream.getVideoTracks()) {
        t.stop();
        this.stream.removeTrack(t);
      }
      await this.videoSender.replaceTrack(null);
      this.localVideo.srcObject = null;
      return;
    }
    try {
      const cam = (await navigator.mediaDevices.getUserMedia({ video: CAMERA })).getVideoTracks()[0];
      if (this.closed) return cam.stop();
      this.stream.addTrack(cam);
      await this.videoSender.replaceTrack(cam);
      this.localVideo.srcObject = new MediaStream([cam]);
      this.onProblem(null);
    } catch (err) {
      this.onProblem(describeCameraError(err));
    }
    return undefined;
  }

  /** What arrives, for the page's status and the tests: audio bytes and energy, video frames. */
  async stats() {
    const out = { audioBytes: 0, audioEnergy: 0, framesDecoded: 0, frameWidth: 0, connection: this.pc ? this.pc.connectionState : "closed" };
    if (!this.pc) return out;
    (await this.pc.getStats()).forEach((r) => {
      if (r.type !== "inbound-rtp") return;
      if (r.kind === "audio") {
        out.audioBytes += r.bytesReceived || 0;
        out.audioEnergy += r.totalAudioEnergy || 0;
      } else if (r.kind === "video") {
        out.framesDecoded += r.framesDecoded || 0;
        out.frameWidth = r.frameWidth || out.frameWidth;
      }
    });
    return out;
  }

  stop() {
    this.closed = true;
    this.#release();
    this.onStatus("closed");
  }

  #release() {
    if (this.pc) {
      this.pc.ontrack = null;
      this.pc.onconnectionstatechange = null;
      this.pc.close();
    }
    this.pc = null;
    if (this.stream) for (const t of this.stream.getTracks()) t.stop();
    this.stream = null;
    for (const el of [this.remoteAudio, this.remoteVideo, this.localVideo]) if (el) el.srcObject = null;
    return undefined;
  }
}
