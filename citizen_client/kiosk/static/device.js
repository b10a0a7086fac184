// The booth's device agent (document camera) seen through its control API on 127.0.0.1: its
// status, and a thumbnail of what the camera sees so the citizen can place documents. The agent
// answers CORS only for this page's origin; if it is not running, the panel says so quietly.

const STATUS_EVERY_MS = 3000;
const PREVIEW_EVERY_MS = 400;

export class DeviceView {
  constructor(port, { img, off, onStatus = () => {} }) {
    this.base = `http://127.0.0.1:${port}`;
    this.img = img;
    this.off = off;
    this.onStatus = onStatus;
    this.timers = [];
    this.url = null;
    this.running = false;
    this.status = null;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.pollStatus();
    this.timers.push(setInterval(() => this.pollStatus(), STATUS_EVERY_MS));
    this.timers.push(setInterval(() => this.pollPreview(), PREVIEW_EVERY_MS));
  }

  stop() {
    this.running = false;
    for (const id of this.timers) clearInterval(id);
    this.timers = [];
    this.img.removeAttribute("src");
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = null;
    this.status = null;
  }

  async pollStatus() {
    try {
      const resp = await fetch(`${this.base}/status`, { cache: "no-store", signal: AbortSignal.timeout(2000) });
      this.status = resp.ok ? await resp.json() : null;
    } catch {
      this.status = null;
    }
    this.off.hidden = Boolean(this.status);
    this.onStatus(this.status);
  }

  async pollPreview() {
    if (!this.running || !this.status) return;
    try {
      const resp = await fetch(`${this.base}/preview.jpg`, { cache: "no-store", signal: AbortSignal.timeout(2000) });
      if (!resp.ok || !this.running) return;
      const url = URL.createObjectURL(await resp.blob());
      const old = this.url;
      this.url = url;
      this.img.src = url;
      if (old) URL.revokeObjectURL(old);
    } catch {
      // the next status poll tells
    }
  }
}
