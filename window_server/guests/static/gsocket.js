// The /guest socket: a staff socket (shared/staffsocket.js) on the guest page's namespace.

import { StaffSocket } from "../shared/staffsocket.js";

export { SocketError } from "../shared/staffsocket.js";

export class GuestSocket extends StaffSocket {
  constructor({ onStatus, onDenied }) {
    super({ namespace: "/guest", onStatus, onDenied });
  }
}
