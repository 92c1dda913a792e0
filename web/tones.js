// The call sounds, made with WebAudio (no sound files): the ringtone of an incoming call and
// the ringback a caller hears while it rings out. Browsers start an AudioContext only after a
// user gesture, so `unlock()` runs on the sign-in click; before that, a ring is silent but its
// sheet still shows.

const RING = { notes: [[880, 0.0, 0.18], [660, 0.22, 0.18], [880, 0.44, 0.18], [660, 0.66, 0.18]], every: 2.5, gain: 0.16 };
const RINGBACK = { notes: [[425, 0.0, 1.0]], every: 4.0, gain: 0.08 };

export class Tones {
  constructor() {
    this.ctx = null;
    this.playing = null; // "ring" | "ringback" | null
    this.timer = null;
    this.voices = [];
  }

  /** Creates (or resumes) the audio context; call it from a click or key press. */
  unlock() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!this.ctx) this.ctx = new Ctx();
    if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
  }

  ring() {
    this.#play("ring", RING);
  }

  ringback() {
    this.#play("ringback", RINGBACK);
  }

  /** Stops `kind` if it plays (any sound when no kind is given). */
  stop(kind = null) {
    if (kind && this.playing !== kind) return;
    clearInterval(this.timer);
    this.timer = null;
    for (const v of this.voices) {
      try {
        v.stop();
      } catch {
        /* already stopped */
      }
    }
    this.voices = [];
    this.playing = null;
  }

  #play(kind, pattern) {
    if (this.playing === kind) return;
    this.stop();
    this.playing = kind;
    this.unlock();
    const burst = () => this.#burst(pattern);
    burst();
    this.timer = setInterval(burst, pattern.every * 1000);
  }

  #burst(pattern) {
    const ctx = this.ctx;
    if (!ctx || ctx.state !== "running") return;
    this.voices = this.voices.filter((v) => v.endsAt > ctx.currentTime);
    for (const [freq, at, length] of pattern.notes) {
      const start = ctx.currentTime + at;
      const osc = ctx.createOscillator();
      const env = ctx.createGain();
      osc.frequency.value = freq;
      // Soft edges: a click-free start and end.
      env.gain.setValueAtTime(0, start);
      env.gain.linearRampToValueAtTime(pattern.gain, start + 0.02);
      env.gain.setValueAtTime(pattern.gain, start + length - 0.04);
      env.gain.linearRampToValueAtTime(0, start + length);
      osc.connect(env).connect(ctx.destination);
      osc.start(start);
      osc.stop(start + length);
      osc.endsAt = start + length;
      this.voices.push(osc);
    }
  }
}
