import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ConsoleAuthReply } from '@kumo/contracts';
import { RpcError } from '@kumo/contracts';
import { type WebSocket, WebSocketServer } from 'ws';
import { VNC_LITE_HTML } from './vnc-lite-page.js';

/**
 * The node's noVNC websocket proxy (Nova's nova-novncproxy), run by the compute agent.
 *
 * Why here: a console is a VNC unix socket in the instance directory of one node, so the proxy
 * has to run on that node (a proxy in the compute API would only reach sockets of its own
 * machine). One proxy per agent process serves every host of that process; its page URL is
 * reported with the heartbeat and becomes the base of the console URLs of servers on those hosts.
 * Agents hold no database credentials, so each token is checked by the compute service
 * (`compute.console_auth` RPC), which answers only for valid, unexpired tokens whose server still
 * lives, on the host the token was made for. Only the token grants access (as nova-novncproxy);
 * it is not consumed, so a browser may reconnect until it expires.
 *
 * HTTP: `vnc_lite.html` (Kumo's page around noVNC's RFB client: the npm package @novnc/novnc ships
 * only core/ and vendor/, not noVNC's own app pages), `core/**` and `vendor/**` from the package,
 * `vnc_auto.html?token=` → redirect to `vnc_lite.html?path=%3Ftoken%3D…` (noVNC's form, Nova's
 * URLs). WebSocket upgrade on any path: the token from the `token` query or a `token` cookie;
 * the `binary` subprotocol is echoed (websockify); bytes are piped both ways to the VNC socket.
 */
export interface ConsoleProxyOptions {
  /** `host:port` to listen on (port 0: any free port). */
  listen: string;
  /** Public base URL of the proxy, e.g. `https://node1.example:6080` (default: from `listen`). */
  publicUrl?: string;
  /** Hosts this agent serves: tokens for others are refused. */
  hosts: string[];
  /** Asks the compute service whether a token is valid (rejects with RpcError `not_found` if not). */
  authorize(token: string, hosts: string[]): Promise<ConsoleAuthReply>;
  /** The domain's VNC socket on `host` now (undefined when the domain has none; throws DomainNotFound when absent). */
  vncSocketOf(host: string, instanceId: string): Promise<string | undefined>;
  /** Browser origins allowed besides the proxy's own host (Nova's console_allowed_origins). */
  allowedOrigins?: string[];
  /** Directory of the @novnc/novnc package (default: resolved from node_modules). */
  novncDir?: string;
  log?: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

/** The installed @novnc/novnc package directory, or why it cannot be used. */
export function findNoVnc(): { dir: string } | { error: string } {
  try {
    // The package exports only ./core/rfb.js.
    const rfb = createRequire(import.meta.url).resolve('@novnc/novnc');
    return { dir: path.resolve(path.dirname(rfb), '..') };
  } catch (err) {
    return { error: `the noVNC client (npm package @novnc/novnc) is not installed next to the compute agent: ${(err as Error).message.split('\n')[0]}` };
  }
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
};
const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title: string, text: string) =>
  `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head><body><h1>${escape(title)}</h1><p>${escape(text)}</p></body></html>\n`;

/** The token a websocket request carries: `?token=`, or noVNC's `?path=?token=`, or a `token` cookie. */
export function tokenOf(req: http.IncomingMessage): string | undefined {
  const url = new URL(req.url ?? '/', 'http://proxy');
  const direct = url.searchParams.get('token');
  if (direct) return direct;
  const p = url.searchParams.get('path');
  const nested = p ? new URLSearchParams(p.replace(/^[^?]*\?/, '')).get('token') : null;
  if (nested) return nested;
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === 'token' && v.length) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class ConsoleProxy {
  private server?: http.Server;
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has('binary') ? 'binary' : false),
  });
  private readonly pipes = new Set<{ ws: WebSocket; vnc: net.Socket }>();
  private readonly novnc: { dir: string } | { error: string };
  private readonly log: NonNullable<ConsoleProxyOptions['log']>;
  /** Base URL of the proxy once listening, e.g. `http://127.0.0.1:6080`. */
  url?: string;

  constructor(private readonly opts: ConsoleProxyOptions) {
    this.log = opts.log ?? (() => undefined);
    this.novnc = opts.novncDir
      ? fs.existsSync(path.join(opts.novncDir, 'core', 'rfb.js'))
        ? { dir: opts.novncDir }
        : { error: `${opts.novncDir} holds no noVNC client (core/rfb.js is missing)` }
      : findNoVnc();
  }

  /** The page console URLs point at: `<url>/vnc_auto.html` (the token is appended as `?token=`). */
  get pageUrl(): string | undefined {
    return this.url ? `${this.url}/vnc_auto.html` : undefined;
  }

  async start(): Promise<string> {
    const m = /^(.*):(\d+)$/.exec(this.opts.listen);
    if (!m) throw new Error(`console proxy: listen address ${this.opts.listen} is not host:port (e.g. 0.0.0.0:6080)`);
    const host = m[1]!.replace(/^\[(.*)\]$/, '$1') || '0.0.0.0';
    const server = http.createServer((req, res) => void this.onRequest(req, res));
    server.on('upgrade', (req, socket: net.Socket, head: Buffer) => void this.onUpgrade(req, socket, head));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new Error(
            `console proxy cannot listen on ${this.opts.listen}: ${err.code === 'EADDRINUSE' ? 'the port is in use (set KUMO_AGENT_CONSOLE_LISTEN to a free port)' : err.message}`,
          ),
        ),
      );
      server.listen(Number(m[2]), host, () => resolve());
    });
    this.server = server;
    const port = (server.address() as net.AddressInfo).port;
    const shownHost = host === '0.0.0.0' || host === '::' ? os.hostname() : host.includes(':') ? `[${host}]` : host;
    this.url = (this.opts.publicUrl ?? `http://${shownHost}:${port}`).replace(/\/+$/, '');
    if ('error' in this.novnc) this.log('warn', `console proxy: ${this.novnc.error}; console pages will say so (the websocket proxy works)`);
    this.log('info', `noVNC console proxy listening on ${host}:${port}, console URLs ${this.url}/vnc_auto.html`);
    return this.url;
  }

  async close(): Promise<void> {
    for (const p of this.pipes) {
      p.vnc.destroy();
      p.ws.terminate();
    }
    this.wss.close();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const send = (status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'Only GET (and websocket upgrades) here.\n', { allow: 'GET, HEAD' });
      const url = new URL(req.url ?? '/', 'http://proxy');
      const p = decodeURIComponent(url.pathname);
      if (p === '/' || p === '/vnc_auto.html' || p === '/vnc.html') {
        // Nova's URL forms: ?token=… (Kumo, older Nova) or ?path=%3Ftoken%3D… (noVNC ≥ 1.1, Nova's access_url).
        const q = new URLSearchParams(url.search);
        const token = q.get('token');
        if (token && !q.has('path')) {
          q.delete('token');
          q.set('path', `?token=${token}`);
        }
        return send(302, 'text/plain', 'See vnc_lite.html\n', { location: `vnc_lite.html?${q.toString()}` });
      }
      if (p === '/vnc_lite.html') {
        if ('error' in this.novnc)
          return send(
            503,
            'text/html; charset=utf-8',
            page(
              'noVNC console unavailable',
              `This node's console proxy works, but ${this.novnc.error}. Reinstall the compute agent's dependencies (pnpm install).`,
            ),
          );
        return send(200, 'text/html; charset=utf-8', VNC_LITE_HTML);
      }
      const m = /^\/((?:core|vendor)\/[A-Za-z0-9_./-]+)$/.exec(p);
      if (m && !m[1]!.split('/').includes('..') && !('error' in this.novnc)) {
        const file = path.join(this.novnc.dir, m[1]!);
        const body = await fs.promises.readFile(file).catch(() => undefined);
        if (body) return send(200, TYPES[path.extname(file)] ?? 'application/octet-stream', body, { 'cache-control': 'public, max-age=3600' });
      }
      send(
        404,
        'text/html; charset=utf-8',
        page('Not found', `${p} is not part of the console proxy. Open the console URL from "openstack console url show <server>".`),
      );
    } catch (err) {
      this.log('error', `console proxy: ${req.method} ${req.url}: ${(err as Error).message}`);
      if (!res.headersSent) send(400, 'text/plain', `Bad request: ${(err as Error).message}\n`);
      else res.destroy();
    }
  }

  /**
   * Refused before the upgrade: an HTTP status with the reason in the `X-Console-Error` header and
   * no body. No body because websocket clients read whatever follows the headers as frames
   * (Tempest's test_novnc_bad_token counts any byte as "the proxy sent data"); browsers never
   * show a failed handshake's body anyway, and the agent's log has the same message.
   */
  private refuse(socket: net.Socket, status: number, message: string): void {
    const header = message.replace(/[^\x20-\x7e]/g, ' ');
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\nX-Console-Error: ${header}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
    );
  }

  private checkOrigin(req: http.IncomingMessage): void {
    const origin = req.headers.origin;
    if (!origin) return;
    let o: URL;
    try {
      o = new URL(origin);
    } catch {
      throw new Refusal(403, `Origin ${origin} is not a URL`);
    }
    const hostOnly = (h: string) => h.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
    const own = hostOnly(req.headers.host ?? '');
    if (hostOnly(o.host) !== own && !(this.opts.allowedOrigins ?? []).includes(o.hostname))
      throw new Refusal(403, `Origin ${origin} is not this console proxy (${own}) nor one of KUMO_AGENT_CONSOLE_ALLOWED_ORIGINS`);
  }

  private async authorize(req: http.IncomingMessage): Promise<{ auth: ConsoleAuthReply; socketPath: string }> {
    this.checkOrigin(req);
    const token = tokenOf(req);
    if (!token) throw new Refusal(401, 'No console token: open the URL that "openstack console url show <server>" prints (it carries ?token=).');
    let auth: ConsoleAuthReply;
    try {
      auth = await this.opts.authorize(token, this.opts.hosts);
    } catch (err) {
      if (err instanceof RpcError && err.code === 'not_found')
        throw new Refusal(
          401,
          'The console token is invalid or has expired, its server was deleted or moved, or it is for another host. Ask for a new console URL.',
        );
      throw new Refusal(503, `The compute service could not check the console token (${(err as Error).message}); try again shortly.`);
    }
    if (!this.opts.hosts.includes(auth.host)) throw new Refusal(403, `This console token is for compute host ${auth.host}, which this proxy does not serve.`);
    if (auth.consoleType !== 'novnc') throw new Refusal(400, `This proxy serves noVNC consoles, not ${auth.consoleType}.`);
    let now: string | undefined;
    try {
      now = await this.opts.vncSocketOf(auth.host, auth.instanceId);
    } catch (err) {
      if ((err as Error).name === 'DomainNotFound')
        throw new Refusal(404, `Server ${auth.instanceId} does not run on ${auth.host} any more (deleted or moved). Ask for a new console URL.`);
      throw new Refusal(503, `The console of server ${auth.instanceId} cannot be looked up on ${auth.host}: ${(err as Error).message}`);
    }
    if (!now || now !== auth.internalAccessPath)
      throw new Refusal(
        409,
        `The console of server ${auth.instanceId} changed since the token was made (its domain was re-created). Ask for a new console URL.`,
      );
    return { auth, socketPath: now };
  }

  private async onUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    let auth: ConsoleAuthReply;
    let vnc: net.Socket;
    try {
      if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') throw new Refusal(400, 'Only websocket upgrades are served here.');
      const a = await this.authorize(req);
      auth = a.auth;
      // Connect before answering 101, so a dead VNC server is an HTTP error the client can read.
      vnc = await new Promise<net.Socket>((resolve, reject) => {
        const s = net.createConnection(a.socketPath);
        const timer = setTimeout(() => {
          s.destroy();
          reject(new Refusal(504, `The VNC server of server ${a.auth.instanceId} did not accept a connection within 5 s.`));
        }, 5000);
        s.once('connect', () => {
          clearTimeout(timer);
          resolve(s);
        });
        s.once('error', (err) => {
          clearTimeout(timer);
          reject(new Refusal(502, `The VNC server of server ${a.auth.instanceId} is not reachable (${(err as Error).message}); is the server running?`));
        });
      });
    } catch (err) {
      const r = err instanceof Refusal ? err : new Refusal(500, `console proxy error: ${(err as Error).message}`);
      this.log(r.status >= 500 ? 'error' : 'info', `console refused (${r.status}) from ${socket.remoteAddress ?? '?'}: ${r.message}`);
      this.refuse(socket, r.status, r.message);
      return;
    }
    if (socket.destroyed) {
      vnc.destroy();
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.pipe(ws, vnc, auth));
  }

  private pipe(ws: WebSocket, vnc: net.Socket, auth: ConsoleAuthReply): void {
    const entry = { ws, vnc };
    this.pipes.add(entry);
    this.log('info', `console of server ${auth.instanceId} on ${auth.host} opened`);
    let pending = 0;
    vnc.on('data', (chunk: Buffer) => {
      // Backpressure: stop reading the VNC server while the browser is far behind.
      pending += chunk.length;
      if (pending > 4 << 20) vnc.pause();
      ws.send(chunk, { binary: true }, () => {
        pending -= chunk.length;
        if (pending <= 1 << 20 && vnc.isPaused()) vnc.resume();
      });
    });
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (!vnc.write(buf)) {
        ws.pause();
        vnc.once('drain', () => ws.resume());
      }
    });
    let done = false;
    const end = (why: string, code: number) => {
      if (done) return;
      done = true;
      this.pipes.delete(entry);
      vnc.destroy();
      if (ws.readyState === ws.OPEN) ws.close(code, why.slice(0, 120));
      this.log('info', `console of server ${auth.instanceId} on ${auth.host} closed: ${why}`);
    };
    vnc.on('close', () => end('the VNC server closed the connection', 1000));
    vnc.on('error', (err) => end(`VNC socket error: ${err.message}`, 1011));
    ws.on('close', () => end('the client closed the connection', 1000));
    ws.on('error', (err) => end(`websocket error: ${err.message}`, 1011));
  }
}
