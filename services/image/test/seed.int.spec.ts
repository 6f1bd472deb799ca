import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { seedTestImageCommand } from '../src/commands/seed-test-image.command.js';
import { Fixtures } from './fixtures.js';
import { client, type ImageEnv, startImageEnv } from './helpers.js';

/** `main.js seed-test-image`: the test guest as public images, idempotently (stand-in files here). */
let env: ImageEnv;
let c: ReturnType<typeof client>;
const fx = new Fixtures();
beforeAll(async () => {
  env = await startImageEnv();
  c = client(env);
}, 60000);
afterAll(async () => {
  await env?.close();
  fx.cleanup();
});

const quiet = async (args: string[]) => {
  const write = process.stdout.write;
  let out = '';
  process.stdout.write = ((s: string) => {
    out += s;
    return true;
  }) as typeof process.stdout.write;
  try {
    expect(await seedTestImageCommand.run(env.svc.config, args)).toBe(0);
  } finally {
    process.stdout.write = write;
  }
  return out;
};

it('uploads kernel, ramdisk and disk as public images, once', async () => {
  fs.writeFileSync(fx.file('vmlinuz'), randomBytes(200_000));
  fs.writeFileSync(fx.file('initrd'), randomBytes(100_000));
  fx.qcow2('disk.qcow2', '64M', Buffer.from('root fs'));
  const args = ['--kernel', fx.file('vmlinuz'), '--initrd', fx.file('initrd'), '--disk', fx.file('disk.qcow2')];
  const first = await quiet(args);
  expect(first).toMatch(/kumo-test-kernel: .* \(uploaded/);
  const list = async () => (await c.list(env.b, '?name=in:kumo-test,kumo-test-kernel,kumo-test-ramdisk&sort=name:asc')).json.images;
  const [disk, kernel, ramdisk] = await list();
  expect(kernel).toMatchObject({ name: 'kumo-test-kernel', status: 'active', visibility: 'public', disk_format: 'aki', container_format: 'aki', owner: null });
  expect(ramdisk).toMatchObject({ name: 'kumo-test-ramdisk', disk_format: 'ari', container_format: 'ari' });
  expect(disk).toMatchObject({
    name: 'kumo-test',
    status: 'active',
    visibility: 'public',
    disk_format: 'qcow2',
    virtual_size: 64 << 20,
    kernel_id: kernel.id,
    ramdisk_id: ramdisk.id,
    os_command_line: 'console=ttyS0 root=/dev/vda',
    kumo_seed: 'test-guest',
  });
  expect((await c.download(env.b, disk.id)).body.equals(fx.read('disk.qcow2'))).toBe(true);

  const again = await quiet(args);
  expect(again).toMatch(/kumo-test: .* \(already there/);
  expect((await list()).map((i: { id: string }) => i.id)).toEqual([disk.id, kernel.id, ramdisk.id]);

  // A rebuilt disk replaces the image; the old one is hidden, not deleted.
  fx.qcow2('disk.qcow2', '64M', Buffer.from('new root fs'));
  await quiet(args);
  const [disk2, kernel2] = await list();
  expect(kernel2.id).toBe(kernel.id);
  expect(disk2.id).not.toBe(disk.id);
  expect((await c.show(env.b, disk.id)).json.os_hidden).toBe(true);
});

it('refuses a half-given set of files', async () => {
  await expect(seedTestImageCommand.run(env.svc.config, ['--kernel', '/x'])).rejects.toThrow(/give all of --kernel, --initrd and --disk/);
});
