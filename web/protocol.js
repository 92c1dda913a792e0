// The wire client: JSON text frames over one WebSocket (docs/protocol.md).
// Requests carry increasing ids and resolve with their reply; events go to listeners.

const REQUEST_TIMEOUT_MS = 20000;

/** A refused request: `code` is the protocol's error code. */
export class ProtocolError extends Error {
  constructor(code, message, type) {
    super(message || code);
    this.name = "ProtocolError";
    this.code = code;
    this.type = type;
  }
}

export function socketUrl(loc = window.location) {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.host}/ws`;
}

/** A valid user id (1-64 of [A-Za-z0-9_.-]) from a display name plus a random suffix. */
export function userIdFor(name) {
  const slug = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "") // accents off: "Zoë" -> "Zoe"
    .replace(/[^A-Za-z0-9_.-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .toLowerCase()
    .slice(0, 40);
  const suffix = Math.random().toString(36).slice(2, 8).padEnd(6, "0");
  return `${slug || "guest"}-${suffix}`;
}

export class Connection {
  constructor(url) {
    this.url = url;
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = new Map();
    this.closeListeners = new Set();
  }

  /** Opens the socket; resolves once it is open. */
  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      let opened = false;
      ws.addEventListener("open", () => {
        opened = true;
        resolve();
      });
      ws.addEventListener("message", (ev) => this.#receive(ev.data));
      ws.addEventListener("close", (ev) => {
        this.#failPending(new ProtocolError("disconnected", "The connection to the server was lost."));
        if (!opened) {
          reject(new ProtocolError("unreachable", "Could not reach the server."));
          return;
        }
        for (const cb of this.closeListeners) cb(ev);
      });
    });
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  close() {
    if (this.ws) {
      this.closeListeners.clear();
      this.ws.close(1000);
    }
  }

  /** Sends one request; resolves with the reply's fields or rejects with a ProtocolError. */
  request(type, params = {}) {
    if (!this.isOpen) {
      return Promise.reject(new ProtocolError("disconnected", "Not connected to the server.", type));
    }
    const id = this.nextId++;
    const frame = { id, type, ...params };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ProtocolError("timeout", "The server did not answer in time.", type));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer, type });
      this.ws.send(JSON.stringify(frame));
    });
  }

  /** Calls `cb(event)` for every event of this type ("*" for all). Returns an unsubscribe. */
  on(type, cb) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(cb);
    return () => this.listeners.get(type).delete(cb);
  }

  onClose(cb) {
    this.closeListeners.add(cb);
  }

  #receive(data) {
    if (typeof data !== "string") return; // we only speak JSON, so replies come as text
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (msg === null || typeof msg !== "object") return;
    if (msg.id !== undefined && msg.id !== null && this.pending.has(msg.id)) {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.type === "error") {
        p.reject(new ProtocolError(msg.code, msg.message, p.type));
      } else {
        const { id: _id, type: _type, ...result } = msg;
        p.resolve(result);
      }
      return;
    }
    this.#emit(msg.type, msg);
    this.#emit("*", msg);
  }

  #emit(type, msg) {
    const set = this.listeners.get(type);
    if (!set) return;
    for (const cb of [...set]) {
      try {
        cb(msg);
      } catch (err) {
        console.error("event handler failed", type, err);
      }
    }
  }

  #failPending(err) {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new ProtocolError(err.code, err.message, p.type));
      this.pending.delete(id);
    }
  }
}

// Human text for every error code the protocol names, plus the page's own.
const ERROR_TEXT = {
  bad_frame: "The server could not read a message from this page.",
  bad_request: "The request was not valid.",
  unknown_type: "The server does not know this action.",
  not_authenticated: "You are not signed in, or your token was refused.",
  forbidden: "You are not allowed to do that.",
  no_such_room: "This room does not exist any more.",
  not_in_room: "You are not in this room.",
  banned: "You have been banned from this room.",
  room_full: "This room is full.",
  seats_full: "All seats are taken.",
  seat_taken: "That seat is already taken.",
  seat_locked: "That seat is locked.",
  no_such_seat: "That seat does not exist.",
  already_seated: "You already hold a seat (here or in another room).",
  not_seated: "There is nobody on that seat (or you are not seated).",
  already_requested: "You have already asked for the mic.",
  no_such_request: "That mic request is no longer pending.",
  wrong_mode: "That is not possible in the room's current mode.",
  rate_limited: "Too many actions at once: wait a moment and try again.",
  no_such_user: "There is no such user.",
  not_friends: "You can only call friends (people who follow you back).",
  user_offline: "They are not online right now.",
  busy: "They are in another call.",
  already_in_call: "You are already in a call (or one is ringing).",
  no_such_call: "That call has ended.",
  not_verified: "Only verified users can do that.",
  internal: "The server hit an internal error.",
  disconnected: "The connection to the server was lost.",
  unreachable: "Could not reach the server. Is it running?",
  timeout: "The server did not answer in time.",
};

/** A sentence for the user about a failed request. */
export function describeError(err) {
  if (err instanceof ProtocolError) {
    const base = ERROR_TEXT[err.code];
    if (!base) return err.message || `Error: ${err.code}`;
    // Where the server's own words add something (which field, which rule, what broke).
    const detailed = ["bad_request", "forbidden", "wrong_mode", "internal"];
    if (detailed.includes(err.code) && err.message && err.message !== err.code) {
      return `${base.replace(/\.$/, "")} (${err.message}).`;
    }
    return base;
  }
  return (err && err.message) || String(err);
}
