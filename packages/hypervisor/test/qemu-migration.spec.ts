// Live migration between two QEMU processes on this machine (tcp on 127.0.0.1), with the
// guest's heartbeat counter continuing on the destination. Reports total time and downtime
// as QEMU measured them (query-migrate).
import fs from 'node:fs';
import type { QemuDriver } from '../src/index.js';
import { destroyAll, testDriver, tinySpec, tmpDir, useGuestSlots, waitConsole, waitUntil } from './helpers.js';

const lastHb = (s: string) => Number([...s.matchAll(/HB (\d+) /g)].at(-1)?.[1] ?? -1);

describe('live migration with a running guest (TCG)', () => {
  useGuestSlots(2);
  let src: QemuDriver;
  let dst: QemuDriver;
  let dir: string;
  beforeAll(() => {
    dir = tmpDir('migrate');
    src = testDriver(`${dir}/src`);
    dst = testDriver(`${dir}/dst`);
  });
  afterAll(async () => {
    await destroyAll(src);
    await destroyAll(dst);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const transport of ['tcp', 'unix'] as const) {
    it(`migrates over ${transport}; the heartbeat continues on the destination without a reboot`, async () => {
      const id = `mig-${transport}`;
      await src.spawn(tinySpec(id));
      await waitConsole(src, id, /HB 3 /);
      const spec = (await src.getInfo(id)).spec;
      const inc = await dst.prepareIncomingMigration(spec, { transport });
      expect(inc.uri).toMatch(transport === 'tcp' ? /^tcp:127\.0\.0\.1:\d+$/ : /^unix:\//);
      const before = lastHb(await src.getConsoleOutput(id));
      const t0 = Date.now();
      const r = await src.migrateOut(id, inc.uri, { maxDowntimeMs: 300 });
      const wall = Date.now() - t0;
      const info = await dst.finishIncomingMigration(id);
      expect(info.state).toBe('running');
      console.log(
        `[migration ${transport}] total ${r.totalTimeMs} ms, downtime ${r.downtimeMs} ms, setup ${r.setupTimeMs} ms, ` +
          `${(r.transferredBytes / 1048576).toFixed(1)} MiB transferred, wall ${wall} ms (accel ${(await dst.getStats(id)).accel})`,
      );
      expect(r.totalTimeMs).toBeGreaterThan(0);
      expect(r.transferredBytes).toBeGreaterThan(1 << 20);
      // Source is gone; destination keeps counting from where the source was.
      await expect(src.getInfo(id)).rejects.toMatchObject({ code: 'DomainNotFound' });
      await waitUntil(20_000, async () => lastHb(await dst.getConsoleOutput(id)) > before, { what: 'heartbeat on the destination' });
      const dstLog = await dst.getConsoleOutput(id);
      const first = Number(/HB (\d+) /.exec(dstLog)![1]);
      expect(first).toBeGreaterThanOrEqual(before);
      expect(dstLog).not.toContain('GUEST-UP');
      await dst.destroy(id);
    });
  }

  it('a migration to a destination that is not listening fails and the source keeps running', async () => {
    await src.spawn(tinySpec('mig-fail'));
    await expect(src.migrateOut('mig-fail', `unix:${dir}/nobody.sock`, { timeoutMs: 20_000 })).rejects.toMatchObject({ code: 'MigrationFailed' });
    expect((await src.getInfo('mig-fail')).state).toBe('running');
    await src.destroy('mig-fail');
  });
});
