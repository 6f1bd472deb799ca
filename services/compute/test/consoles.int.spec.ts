import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RFB_BANNER } from '@kumo/hypervisor';
import { waitUntil } from '@kumo/service-kit/testing';
import { type ClientOptions, WebSocket } from 'ws';
import { ConsoleProxy } from '../src/agent/console-proxy.js';
import { Db } from '../src/db/db.js';
import { ConsolesService } from '../src/servers/consoles.service.js';
import { client, type ComputeEnv, request, startComputeEnv } from './helpers.js';
import { tempestErrors } from './tempest/schemas.js';

/**
 * The noVNC console end to end: the compute API hands out a token URL on the node's proxy (in the
 * in-process agent), the proxy checks the token with compute over AMQP and pipes a websocket to
 * the domain's VNC unix socket — here the FakeDriver's fake RFB server (a real socket).
 */
const expectSchema = (name: string, res: { status: number; json: unknown }) => expect(tempestErrors(name, res.status, res.json)).toEqual([]);

/** A websocket client that collects what the proxy sends. */
class Conn {
  data = Buffer.alloc(0);
  closed = false;
  constructor(readonly ws: WebSocket) {
    ws.on('message', (d: Buffer) => (this.data = Buffer.concat([this.data, d])));
    ws.on('close', () => (this.closed = true));
  }
  async read(n: number, what: string): Promise<Buffer> {
    await waitUntil(`${what} (${n} bytes) through the console proxy`, () => this.data.length >= n, { timeoutMs: 5000, intervalMs: 5 });
    return this.data.subarray(0, n);
  }
}

/**
 * Opens a console websocket; rejects with the HTTP status and the reason (`X-Console-Error`) when
 * the proxy refuses the upgrade — and with a body, which a refusal must not have (see refuse()).
 */
function openConsole(url: string, opts: ClientOptions = {}, protocols: string[] = ['binary']): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { handshakeTimeout: 5000, ...opts });
    const conn = new Conn(ws);
    ws.once('open', () => resolve(conn));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        if (body) return reject(new Error(`a refused upgrade came with a body (websocket clients read it as frames): ${body}`));
        const reason = String(res.headers['x-console-error'] ?? '');
        reject(Object.assign(new Error(`HTTP ${res.statusCode}: ${reason}`), { status: res.statusCode, body: reason }));
      });
    });
    ws.once('error', reject);
  });
}

const refusal = (p: Promise<Conn>) =>
  p.then(
    (c) => {
      c.ws.terminate();
      throw new Error('the console proxy accepted a websocket it should have refused');
    },
    (err: { status?: number; body?: string }) => ({ status: err.status, body: err.body ?? '' }),
  );

describe('noVNC console proxy on the compute agent (FakeDriver VNC sockets)', () => {
  let env: ComputeEnv;
  let c: ReturnType<typeof client>;
  let proxy: string;
  const wsUrl = (token: string, p = '/') => `${proxy.replace(/^http/, 'ws')}${p}?token=${encodeURIComponent(token)}`;
  const consoleOf = async (id: string) => {
    const r = await c.action(env.a, id, { 'os-getVNCConsole': { type: 'novnc' } });
    expect(r.status).toBe(200);
    return { url: new URL(r.json.console.url), token: new URL(r.json.console.url).searchParams.get('token')! };
  };
  const hostOf = async (id: string) => (await c.show(env.admin, id)).json.server['OS-EXT-SRV-ATTR:host'] as string;

  beforeAll(async () => {
    env = await startComputeEnv({ hosts: ['con-1', 'con-2'], consoleProxy: true });
    c = client(env);
    proxy = env.agent!.consoleProxy!.url!;
    // The heartbeat carries the proxy's page: wait until compute has it for both hosts.
    const db = env.svc.app.get(Db);
    await waitUntil(
      'console URLs reported',
      async () => (await db.rows<{ n: number }>(`SELECT count(*)::int AS n FROM ${db.t('compute_node')} WHERE console_url IS NOT NULL`))[0]!.n === 2,
    );
  });
  afterAll(() => env?.close());

  it('a project member gets a URL on the node proxy; the websocket (binary) carries RFB both ways to the fake VNC server; reconnects work', async () => {
    const s = await c.bootActive(env.a, { name: 'vnc-me' });
    const r = await c.action(env.a, s.id, { 'os-getVNCConsole': { type: 'novnc' } });
    expect(r.status).toBe(200);
    expectSchema('servers.get_vnc_console', r);
    const url = new URL(r.json.console.url);
    expect(`${url.origin}${url.pathname}`).toBe(`${proxy}/vnc_auto.html`);
    const token = url.searchParams.get('token')!;

    const conn = await openConsole(wsUrl(token));
    expect(conn.ws.protocol).toBe('binary');
    expect((await conn.read(12, 'the RFB banner')).toString()).toBe(RFB_BANNER);
    conn.ws.send(Buffer.from('RFB 003.008\n'));
    expect([...(await conn.read(14, 'the security types')).subarray(12)]).toEqual([1, 1]);
    const vnc = (await env.drivers.get(await hostOf(s.id))!.vncServer(s.id))!;
    await waitUntil('client bytes at the VNC server', () => vnc.received.toString().startsWith('RFB 003.008\n'), { timeoutMs: 5000, intervalMs: 5 });
    conn.ws.close();

    // Not a one-time token (as Nova): a reconnect works, here with noVNC's ?path= form and the token as a cookie.
    const again = await openConsole(`${proxy.replace(/^http/, 'ws')}/websockify?path=${encodeURIComponent(`?token=${token}`)}`);
    expect((await again.read(12, 'the RFB banner')).toString()).toBe(RFB_BANNER);
    again.ws.close();
    const cookie = await openConsole(`${proxy.replace(/^http/, 'ws')}/websockify`, { headers: { cookie: `lang=en; token=${token}` } });
    expect((await cookie.read(12, 'the RFB banner')).toString()).toBe(RFB_BANNER);
    cookie.ws.close();
    // Without a subprotocol (older clients) it works too; the 2.6 remote-consoles URL is on the same proxy.
    const plain = await openConsole(wsUrl(token), {}, []);
    expect((await plain.read(12, 'the RFB banner')).toString()).toBe(RFB_BANNER);
    plain.ws.close();
    const rc = await c.r('POST', `/servers/${s.id}/remote-consoles`, env.a, {
      headers: { 'X-OpenStack-Nova-API-Version': '2.6' },
      json: { remote_console: { protocol: 'vnc', type: 'novnc' } },
    });
    expectSchema('v2_6/servers.get_remote_consoles', rc);
    expect(rc.json.remote_console.url.startsWith(`${proxy}/vnc_auto.html?token=`)).toBe(true);
    expect(vnc.connections).toBe(4);
  });

  it('serves the noVNC client: vnc_auto.html?token= redirects to vnc_lite.html?path=, which loads core/rfb.js from @novnc/novnc', async () => {
    const s = await c.bootActive(env.a, { name: 'vnc-page' });
    const { url, token } = await consoleOf(s.id);
    const auto = await request(proxy, 'GET', `${url.pathname}${url.search}`);
    expect(auto.status).toBe(302);
    expect(auto.headers.location).toBe(`vnc_lite.html?path=${encodeURIComponent(`?token=${token}`)}`);
    const lite = await request(proxy, 'GET', `/${auto.headers.location}`);
    expect(lite.status).toBe(200);
    expect(lite.headers['content-type']).toMatch(/text\/html/);
    expect(lite.text).toContain('<title>noVNC</title>');
    expect(lite.text).toContain('./core/rfb.js');
    const rfb = await request(proxy, 'GET', '/core/rfb.js');
    expect(rfb.status).toBe(200);
    expect(rfb.headers['content-type']).toMatch(/javascript/);
    expect(rfb.text).toContain('export default class RFB');
    expect((await request(proxy, 'GET', '/vendor/pako/lib/zlib/inflate.js')).status).toBe(200);
    expect((await request(proxy, 'GET', '/core/%2e%2e/package.json')).status).toBe(404);
    expect((await request(proxy, 'GET', '/etc/passwd')).status).toBe(404);
    // The compute API's own page (older URLs, hosts without a proxy) sends a valid token to the host's proxy.
    const viaApi = await request(env.url, 'GET', `/vnc_auto.html?token=${token}`);
    expect(viaApi.status).toBe(302);
    expect(viaApi.headers.location).toBe(`${proxy}/vnc_auto.html?token=${token}`);
    expect((await request(env.url, 'GET', '/vnc_auto.html?token=forged')).status).toBe(401);
  });

  it('a proxy without the noVNC package says so in the page (never a 500)', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-no-novnc-'));
    const p = new ConsoleProxy({
      listen: '127.0.0.1:0',
      hosts: ['x'],
      novncDir: empty,
      authorize: async () => Promise.reject(new Error('unused')),
      vncSocketOf: async () => undefined,
    });
    try {
      const base = await p.start();
      const page = await request(base, 'GET', '/vnc_lite.html?path=%3Ftoken%3Dx');
      expect(page.status).toBe(503);
      expect(page.text).toMatch(/holds no noVNC client/);
      expect(page.text).toMatch(/pnpm install/);
      // And a broker that cannot answer is a 503 before the upgrade, not a hang.
      expect(await refusal(openConsole(`${base.replace(/^http/, 'ws')}/?token=x`))).toMatchObject({
        status: 503,
        body: expect.stringMatching(/could not check the console token/),
      });
    } finally {
      await p.close();
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it('refuses before the upgrade: no token, a forged or expired token; another project gets no URL (404), a reader none (403)', async () => {
    const s = await c.bootActive(env.a, { name: 'vnc-refuse' });
    const { token } = await consoleOf(s.id);
    expect(await refusal(openConsole(`${proxy.replace(/^http/, 'ws')}/websockify`))).toMatchObject({
      status: 401,
      body: expect.stringMatching(/No console token/),
    });
    expect(await refusal(openConsole(wsUrl('forged')))).toMatchObject({ status: 401, body: expect.stringMatching(/invalid or has expired/) });
    // A browser page of another site may not use the token.
    expect(await refusal(openConsole(wsUrl(token), { origin: 'http://evil.example' }))).toMatchObject({ status: 403 });
    const other = await c.action(env.b, s.id, { 'os-getVNCConsole': { type: 'novnc' } });
    expect(other.status).toBe(404);
    const otherRc = await c.r('POST', `/servers/${s.id}/remote-consoles`, env.b, {
      headers: { 'X-OpenStack-Nova-API-Version': '2.6' },
      json: { remote_console: { protocol: 'vnc', type: 'novnc' } },
    });
    expect(otherRc.status).toBe(404);
    expect((await c.action(env.readerA, s.id, { 'os-getVNCConsole': { type: 'novnc' } })).status).toBe(403);
    // A token is only good on the node of its host.
    const consoles = env.svc.app.get(ConsolesService);
    await expect(consoles.authorize({ token, hosts: ['elsewhere'] })).rejects.toMatchObject({ code: 'not_found' });
    expect((await consoles.authorize({ token, hosts: ['con-1', 'con-2'] })).instanceId).toBe(s.id);
    // Expired.
    const db = env.svc.app.get(Db);
    await db.exec(`UPDATE ${db.t('console_auth_token')} SET expires = now() - interval '1 second' WHERE instance_id = $1`, [s.id]);
    expect(await refusal(openConsole(wsUrl(token)))).toMatchObject({ status: 401 });
  });

  it('a deleted server: its open console closes and its token opens nothing; a moved server: the old token is refused', async () => {
    const s = await c.bootActive(env.a, { name: 'vnc-gone' });
    const { token } = await consoleOf(s.id);
    const conn = await openConsole(wsUrl(token));
    await conn.read(12, 'the RFB banner');
    expect((await c.r('DELETE', `/servers/${s.id}`, env.a)).status).toBe(204);
    await waitUntil('server gone', async () => (await c.show(env.a, s.id)).status === 404);
    await waitUntil('the open console closed with the domain', () => conn.closed, { timeoutMs: 5000 });
    expect(await refusal(openConsole(wsUrl(token)))).toMatchObject({ status: 401 });

    const m = await c.bootActive(env.a, { name: 'vnc-moved' });
    const before = await hostOf(m.id);
    const old = await consoleOf(m.id);
    expect((await c.action(env.admin, m.id, { migrate: null })).status).toBe(202);
    await c.waitStatus(env.admin, m.id, 'VERIFY_RESIZE');
    expect((await c.action(env.admin, m.id, { confirmResize: null })).status).toBe(204);
    await c.waitStatus(env.admin, m.id, 'ACTIVE');
    expect(await hostOf(m.id)).not.toBe(before);
    expect(await refusal(openConsole(wsUrl(old.token)))).toMatchObject({ status: 401 });
    // A new URL for the new host works.
    const fresh = await openConsole(wsUrl((await consoleOf(m.id)).token));
    expect((await fresh.read(12, 'the RFB banner')).toString()).toBe(RFB_BANNER);
    fresh.ws.close();
  });
});
