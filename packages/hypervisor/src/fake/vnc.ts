// A fake VNC endpoint for FakeDriver domains: a real unix socket speaking enough RFB 3.8
// (RFC 6143) for a console proxy and a noVNC browser client to be tested without QEMU —
// version and security handshake (security type None), ServerInit, and raw-encoded framebuffer
// updates of a small test picture. Every byte a client sends is recorded (bounded) so tests can
// see what reached the "guest's" VNC server through a proxy.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** What the server sends first: RFC 6143 §7.1.1, the newest version QEMU speaks too. */
export const RFB_BANNER = 'RFB 003.008\n';

/** RFC 6143 §7.4 PIXEL_FORMAT. */
interface PixelFormat {
  bpp: number;
  bigEndian: boolean;
  redMax: number;
  greenMax: number;
  blueMax: number;
  redShift: number;
  greenShift: number;
  blueShift: number;
}

const SERVER_FORMAT: PixelFormat = { bpp: 32, bigEndian: false, redMax: 255, greenMax: 255, blueMax: 255, redShift: 16, greenShift: 8, blueShift: 0 };
const MAX_RECORDED = 64 * 1024;

export interface FakeVncOptions {
  /** Desktop name in ServerInit (the domain id). */
  name: string;
  width?: number;
  height?: number;
}

export class FakeVncServer {
  /** Bytes clients sent, in arrival order, across connections (at most 64 KiB, oldest dropped). */
  received: Buffer = Buffer.alloc(0);
  /** KeyEvents (keysym, down) clients sent after the handshake. */
  readonly keys: { keysym: number; down: boolean }[] = [];
  /** Connections accepted so far. */
  connections = 0;
  private readonly sockets = new Set<net.Socket>();
  private readonly width: number;
  private readonly height: number;

  private constructor(
    readonly socketPath: string,
    private readonly server: net.Server,
    private readonly opts: FakeVncOptions,
  ) {
    this.width = opts.width ?? 320;
    this.height = opts.height ?? 200;
  }

  /** Listens on `socketPath` (a stale socket file there is replaced). */
  static async listen(socketPath: string, opts: FakeVncOptions): Promise<FakeVncServer> {
    await fs.promises.mkdir(path.dirname(socketPath), { recursive: true });
    await fs.promises.rm(socketPath, { force: true });
    const server = net.createServer();
    const vnc = new FakeVncServer(socketPath, server, opts);
    server.on('connection', (s) => vnc.serve(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // A fake host must not keep a test or agent process alive by itself.
    server.unref();
    return vnc;
  }

  /** Stops listening, drops every client (as when QEMU exits) and removes the socket file. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await fs.promises.rm(this.socketPath, { force: true });
  }

  private record(chunk: Buffer): void {
    this.received = Buffer.concat([this.received, chunk]);
    if (this.received.length > MAX_RECORDED) this.received = this.received.subarray(this.received.length - MAX_RECORDED);
  }

  private serve(sock: net.Socket): void {
    this.connections++;
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    let state: 'version' | 'security' | 'init' | 'normal' = 'version';
    let minor = 8;
    let format = SERVER_FORMAT;
    let buf = Buffer.alloc(0);
    const fail = (reason: string) => {
      // RFC 6143 §7.1.2: a failed handshake is a SecurityResult 1 with a reason (3.8), then close.
      const r = Buffer.from(reason);
      const out = Buffer.alloc(8 + r.length);
      out.writeUInt32BE(1, 0);
      out.writeUInt32BE(r.length, 4);
      r.copy(out, 8);
      sock.end(out);
    };
    sock.write(RFB_BANNER);
    sock.on('data', (chunk: Buffer) => {
      this.record(chunk);
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (state === 'version') {
          if (buf.length < 12) return;
          const v = /^RFB 003\.00(\d)\n$/.exec(buf.subarray(0, 12).toString('latin1'));
          buf = buf.subarray(12);
          if (!v) return void sock.destroy();
          minor = Number(v[1]);
          if (minor < 7) {
            // 3.3: the server picks the security type (None) as a u32, no SecurityResult.
            const t = Buffer.alloc(4);
            t.writeUInt32BE(1, 0);
            sock.write(t);
            state = 'init';
          } else {
            sock.write(Buffer.from([1, 1])); // one security type: None
            state = 'security';
          }
        } else if (state === 'security') {
          if (buf.length < 1) return;
          const chosen = buf[0];
          buf = buf.subarray(1);
          if (chosen !== 1) return fail(`security type ${chosen} is not offered (only None)`);
          if (minor >= 8) sock.write(Buffer.alloc(4)); // SecurityResult OK
          state = 'init';
        } else if (state === 'init') {
          if (buf.length < 1) return;
          buf = buf.subarray(1); // ClientInit shared-flag
          sock.write(this.serverInit());
          state = 'normal';
        } else {
          if (buf.length < 1) return;
          const need = messageLength(buf);
          if (need === undefined || buf.length < Math.max(need, 1)) return;
          if (need < 0) return void sock.destroy(); // a message type this server does not know
          const msg = buf.subarray(0, need);
          buf = buf.subarray(need);
          switch (msg[0]) {
            case 0:
              format = {
                bpp: msg[4]!,
                bigEndian: msg[6] !== 0,
                redMax: msg.readUInt16BE(8),
                greenMax: msg.readUInt16BE(10),
                blueMax: msg.readUInt16BE(12),
                redShift: msg[14]!,
                greenShift: msg[15]!,
                blueShift: msg[16]!,
              };
              break;
            case 3:
              // Only full requests get a frame: the picture never changes, so an incremental one waits forever (allowed).
              if (msg[1] === 0) sock.write(this.frame(format));
              break;
            case 4:
              this.keys.push({ down: msg[1] !== 0, keysym: msg.readUInt32BE(4) });
              if (this.keys.length > 1000) this.keys.splice(0, this.keys.length - 1000);
              break;
            default:
              break;
          }
        }
      }
    });
  }

  private serverInit(): Buffer {
    const name = Buffer.from(this.opts.name);
    const out = Buffer.alloc(24 + name.length);
    out.writeUInt16BE(this.width, 0);
    out.writeUInt16BE(this.height, 2);
    const f = SERVER_FORMAT;
    out[4] = f.bpp;
    out[5] = 24;
    out[6] = f.bigEndian ? 1 : 0;
    out[7] = 1; // true colour
    out.writeUInt16BE(f.redMax, 8);
    out.writeUInt16BE(f.greenMax, 10);
    out.writeUInt16BE(f.blueMax, 12);
    out[14] = f.redShift;
    out[15] = f.greenShift;
    out[16] = f.blueShift;
    out.writeUInt32BE(name.length, 20);
    name.copy(out, 24);
    return out;
  }

  /** One raw-encoded rectangle covering the screen: a gradient, in the client's pixel format. */
  private frame(f: PixelFormat): Buffer {
    const bytes = Math.max(1, f.bpp / 8);
    const head = Buffer.alloc(16);
    head[0] = 0; // FramebufferUpdate
    head.writeUInt16BE(1, 2);
    head.writeUInt16BE(this.width, 8);
    head.writeUInt16BE(this.height, 10);
    head.writeInt32BE(0, 12); // raw
    const px = Buffer.alloc(this.width * this.height * bytes);
    for (let y = 0; y < this.height; y++) {
      for (let x = 0; x < this.width; x++) {
        const r = Math.floor((x * 255) / this.width);
        const g = Math.floor((y * 255) / this.height);
        const b = 160;
        const v =
          ((Math.round((r * f.redMax) / 255) << f.redShift) |
            (Math.round((g * f.greenMax) / 255) << f.greenShift) |
            (Math.round((b * f.blueMax) / 255) << f.blueShift)) >>>
          0;
        const at = (y * this.width + x) * bytes;
        if (bytes === 4) {
          if (f.bigEndian) px.writeUInt32BE(v, at);
          else px.writeUInt32LE(v, at);
        } else if (bytes === 2) {
          if (f.bigEndian) px.writeUInt16BE(v & 0xffff, at);
          else px.writeUInt16LE(v & 0xffff, at);
        } else px[at] = v & 0xff;
      }
    }
    return Buffer.concat([head, px]);
  }
}

/** Length of the client message at the head of `buf` (RFC 6143 §7.5); undefined: not all there yet; -1: unknown type. */
function messageLength(buf: Buffer): number | undefined {
  switch (buf[0]) {
    case 0:
      return 20; // SetPixelFormat
    case 2:
      return buf.length < 4 ? undefined : 4 + 4 * buf.readUInt16BE(2); // SetEncodings
    case 3:
      return 10; // FramebufferUpdateRequest
    case 4:
      return 8; // KeyEvent
    case 5:
      return 6; // PointerEvent
    case 6:
      return buf.length < 8 ? undefined : 8 + buf.readUInt32BE(4); // ClientCutText
    default:
      return -1;
  }
}
