// The driver contract against QemuDriver with real TCG guests (the test guest, -M pc). Holds
// two guest slots for the whole file: live migration runs source and destination at once.
import fs from 'node:fs';
import { createImage, QemuDriver } from '../src/index.js';
import { describeDriverContract } from './driver.contract.js';
import { testDriver, tinySpec, tmpDir, useGuestSlots, waitConsole, waitUntil } from './helpers.js';
import { createNetns, type TestNetns } from './netns.js';

useGuestSlots(2);
const root = tmpDir('contract');
let hosts = 0;
let ns: TestNetns;
beforeAll(() => {
  ns = createNetns();
});
afterAll(() => {
  ns?.destroy();
  fs.rmSync(root, { recursive: true, force: true });
});

describeDriverContract('QemuDriver (TCG)', () => ({
  makeDriver: async () => testDriver(`${root}/host${hosts++}`),
  reopen: async (d) => {
    await d.close();
    return testDriver((d as QemuDriver).stateDir);
  },
  spec: (id, over) => tinySpec(id, over),
  diskFile: (name) => `${root}/${name}.qcow2`,
  nic: (id, mac) => ({ id, mac, tap: { ifname: `kt-${id}`.slice(0, 15), netns: ns.path } }),
  bootMarker: 'GUEST-UP',
  waitBooted: async (d, id, boots = 1) => {
    await waitConsole(d, id, new RegExp(`(GUEST-HOLD[\\s\\S]*){${boots}}`));
  },
  eventually: (what, cond) => waitUntil(60_000, cond, { what, intervalMs: 200 }).then(() => undefined),
}));

// Disk images the contract attaches (created up front: qemu-img is async).
beforeAll(async () => {
  fs.mkdirSync(root, { recursive: true });
  for (const n of ['data', 'data2', 'cold', 'x']) await createImage(`${root}/${n}.qcow2`, { format: 'qcow2', sizeBytes: 16 << 20 });
});
