import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QemuDriver } from '@kumo/hypervisor';
import { acquireGuestSlots, ensureTestGuest, guestCmdline, type SlotLease } from '@kumo/hypervisor/testing';
import { waitUntil } from '@kumo/service-kit/testing';
import { WebSocket } from 'ws';
import { ConsoleProxy } from '../src/agent/console-proxy.js';

/**
 * The node proxy against QEMU's real VNC server: a tiny TCG guest with console.vnc, the proxy
 * given that domain's socket (the token check is stubbed here — consoles.int.spec.ts covers it
 * through compute), and a websocket client that must receive QEMU's RFB banner and its security
 * types. One guest, under the machine-wide guest-slot lock.
 */
describe('noVNC console proxy to a real QEMU VNC socket (TCG guest)', () => {
  let lease: SlotLease | undefined;
  let driver: QemuDriver;
  let stateDir: string;
  let proxy: ConsoleProxy;
  beforeAll(async () => {
    lease = await acquireGuestSlots(1);
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-console-qemu-'));
    driver = new QemuDriver({ stateDir, accel: 'tcg', maxLifetimeSec: 300, qmpTimeoutMs: 20_000 });
  }, 600_000);
  afterAll(async () => {
    await proxy?.close();
    for (const d of (await driver?.listDomains()) ?? []) await driver.destroy(d.id).catch(() => undefined);
    await driver?.close();
    fs.rmSync(stateDir, { recursive: true, force: true });
    lease?.release();
  });

  it("a websocket through the proxy receives QEMU's RFB banner and security types", async () => {
    const g = ensureTestGuest();
    await driver.spawn({
      id: 'vnc-qemu',
      machine: { type: 'pc', accel: 'tcg' },
      cpu: { vcpus: 1 },
      memory: { sizeMb: 128 },
      boot: { kernel: g.kernel, initrd: g.initrd, cmdline: guestCmdline({ hold: true, hb: 1, net: false }) },
      console: { vnc: true },
    });
    const socketPath = (await driver.getConsole('vnc-qemu')).vncSocket!;
    expect(socketPath).toMatch(/vnc\.sock$/);
    proxy = new ConsoleProxy({
      listen: '127.0.0.1:0',
      hosts: ['qemu-host'],
      authorize: async (token) => {
        if (token !== 'good') throw new Error('unexpected token');
        return {
          instanceId: 'vnc-qemu',
          host: 'qemu-host',
          consoleType: 'novnc',
          internalAccessPath: socketPath,
          expires: new Date(Date.now() + 60_000).toISOString(),
        };
      },
      vncSocketOf: async (_host, id) => (await driver.getConsole(id)).vncSocket,
    });
    const base = await proxy.start();
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/?token=good`, ['binary'], { handshakeTimeout: 5000 });
    let got = Buffer.alloc(0);
    ws.on('message', (d: Buffer) => (got = Buffer.concat([got, d])));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    expect(ws.protocol).toBe('binary');
    await waitUntil('QEMU RFB banner through the proxy', () => got.length >= 12, { timeoutMs: 10_000, intervalMs: 10 });
    expect(got.subarray(0, 12).toString()).toMatch(/^RFB 003\.00[378]\n$/);
    ws.send(Buffer.from('RFB 003.008\n'));
    await waitUntil('QEMU security types', () => got.length >= 14, { timeoutMs: 10_000, intervalMs: 10 });
    const types = [...got.subarray(13, 13 + got[12]!)];
    expect(types).toContain(1); // None: the socket is local to the node, the token is the credential
    ws.close();
  });
});
