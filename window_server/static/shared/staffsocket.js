// A staff page's socket (the console's /agent, the guest page's /guest): a fresh connect token
// on every (re)connect, since tokens live two minutes and reconnects may come later, and
// acknowledgements as promises.

import { io } from "../vendor/socket.io.esm.min.js";
import { post } from "./api.js";
import { rtcConfig } from "./rtc.js";

export class SocketError extends Error {
  constructor(code, message, field) {
    super(message || code);
    this.code = code;
    this.field = field;
  }
}

export class StaffSocket {
  /**
   * @param {object} o
   * @param {string} o.namespace  "/agent" | "/guest"
   * @param {(up: boolean, code?: string) => void} [o.onStatus]
   * @param {(err: Error & {status: number}) => void} [o.onDenied]  the connect-token request was refused
   */
  constructor({ namespace, onStatus, onDenied }) {
    this.rtc = rtcConfig(null); // the last connect token's ICE servers and transport policy
    this.onStatus = onStatus || (() => {});
    this.socket = io(namespace, {
      transports: ["websocket"],
      autoConnect: false,
      reconnectionDelay: 500,
      reconnectionDelayMax: 4000,
      auth: (cb) => {
        post("/api/connect-token", { namespace })
          .then((tok) => {
            this.rtc = rtcConfig(tok);
            cb({ token: tok.token });
          })
          .catch((err) => {
            if (onDenied && (err.status === 401 || err.status === 403)) onDenied(err);
            cb({ token: "" });
          });
      },
    });
    this.socket.on("connect", () => this.onStatus(true));
    this.socket.on("disconnect", () => this.onStatus(false));
    this.socket.on("connect_error", (err) => {
      this.onStatus(false, err?.data?.code);
      // A refusal (bad token) does not retry by itself in socket.io 4; try again shortly.
      if (!this.socket.active) setTimeout(() => this.socket.connect(), 1500);
    });
  }

  connect() {
    this.socket.connect();
  }

  on(event, fn) {
    this.socket.on(event, fn);
  }

  get connected() {
    return this.socket.connected;
  }

  /** Send a client event; resolve with its ok payload, reject with a SocketError. */
  async call(event, data = {}, timeoutMs = 10000) {
    let reply;
    try {
      reply = await this.socket.timeout(timeoutMs).emitWithAck(event, data);
    } catch {
      throw new SocketError("timeout", `${event}: no answer`);
    }
    if (reply && "ok" in reply) return reply.ok;
    const e = (reply && reply.error) || {};
    throw new SocketError(e.code || "internal_error", e.message, e.field);
  }

  /** Fire and forget (ICE candidates): errors are logged, not thrown. */
  send(event, data) {
    this.call(event, data).catch((err) => console.debug("send failed", event, err.code));
  }
}
