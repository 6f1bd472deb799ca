// qemu-img wrapper and image vetting: overlays on a base image (and a guest booting from one),
// the wrappers, and the refusals (backing file / data file outside allowed dirs, format
// confusion, multi-file VMDK).
import fs from 'node:fs';
import path from 'node:path';
import {
  checkImage,
  commitImage,
  convertImage,
  createImage,
  imageBackingChain,
  imageInfo,
  inspectHeader,
  inspectImage,
  rebaseImage,
  resizeImage,
  type QemuDriver,
} from '../src/index.js';
import { runQemuImg } from '../src/qemu/qemu-img.js';
import { guestCmdline } from '../src/testing/index.js';
import { destroyAll, testDriver, testGuest, tmpDir, useGuestSlots, waitConsole } from './helpers.js';

let dir: string;
beforeAll(() => {
  dir = tmpDir('img');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('qemu-img wrapper', () => {
  it('create, info, convert, resize, check, rebase, commit', async () => {
    const base = `${dir}/base.qcow2`;
    await createImage(base, { format: 'qcow2', sizeBytes: 64 << 20 });
    expect(await imageInfo(base, { format: 'qcow2' })).toMatchObject({ format: 'qcow2', 'virtual-size': 64 << 20 });
    const overlay = `${dir}/overlay.qcow2`;
    await createImage(overlay, { format: 'qcow2', backingFile: base, backingFormat: 'qcow2', allowedDirs: [dir] });
    const chain = await imageBackingChain(overlay, { format: 'qcow2' });
    expect(chain.map((c) => path.basename(c.filename))).toEqual(['overlay.qcow2', 'base.qcow2']);
    expect(chain[0]!['virtual-size']).toBe(64 << 20);
    await resizeImage(overlay, 128 << 20, { format: 'qcow2' });
    expect((await imageInfo(overlay, { format: 'qcow2' }))['virtual-size']).toBe(128 << 20);
    const chk = await checkImage(overlay, { format: 'qcow2' });
    expect(chk.ok).toBe(true);
    expect(chk['check-errors']).toBe(0);
    const raw = `${dir}/flat.raw`;
    await convertImage(overlay, raw, { srcFormat: 'qcow2', dstFormat: 'raw' });
    expect(inspectHeader(raw).format).toBe('raw');
    expect(fs.statSync(raw).size).toBe(128 << 20);
    const base2 = `${dir}/base2.qcow2`;
    await convertImage(base, base2, { srcFormat: 'qcow2', dstFormat: 'qcow2', compress: true });
    await rebaseImage(overlay, { format: 'qcow2', backingFile: base2, backingFormat: 'qcow2', unsafe: true, allowedDirs: [dir] });
    expect((await imageInfo(overlay, { format: 'qcow2' }))['backing-filename']).toBe(base2);
    await commitImage(overlay, { format: 'qcow2' });
    await expect(imageInfo(`${dir}/missing.qcow2`)).rejects.toMatchObject({ code: 'HostError', message: expect.stringMatching(/qemu-img info failed/) });
  });

  it('refuses to create or rebase onto a backing file outside the allowed directories', async () => {
    await expect(createImage(`${dir}/evil.qcow2`, { format: 'qcow2', backingFile: '/etc/shadow', backingFormat: 'raw', allowedDirs: [dir] })).rejects.toMatchObject({ code: 'ImageRefused' });
    expect(fs.existsSync(`${dir}/evil.qcow2`)).toBe(false);
  });
});

describe('inspectImage (untrusted uploads; CVE-2024-32498 class)', () => {
  it('accepts a plain qcow2 and an overlay whose backing file is inside an allowed dir', async () => {
    const base = `${dir}/ok-base.qcow2`;
    await createImage(base, { format: 'qcow2', sizeBytes: 8 << 20 });
    const r = await inspectImage(base, { declaredFormat: 'qcow2', check: true });
    expect(r).toMatchObject({ format: 'qcow2', virtualSize: 8 << 20 });
    expect(r.check?.['check-errors']).toBe(0);
    const ov = `${dir}/ok-overlay.qcow2`;
    await createImage(ov, { format: 'qcow2', backingFile: 'ok-base.qcow2', backingFormat: 'qcow2' });
    const r2 = await inspectImage(ov, { declaredFormat: 'qcow2', allowedDirs: [dir] });
    expect(r2.backingFile).toBe('ok-base.qcow2');
    expect(r2.chain).toHaveLength(2);
  });

  it('refuses a qcow2 whose backing_file is /etc/shadow, before qemu-img touches it', async () => {
    const evil = `${dir}/shadow.qcow2`;
    // -u: write the header without opening the backing file (how an attacker makes it).
    const r = await runQemuImg(['create', '-q', '-f', 'qcow2', '-u', '-b', '/etc/shadow', '-F', 'raw', evil, '1G']);
    expect(r.code).toBe(0);
    expect(inspectHeader(evil).backingFile).toBe('/etc/shadow');
    await expect(inspectImage(evil, { declaredFormat: 'qcow2', allowedDirs: [dir] })).rejects.toMatchObject({
      code: 'ImageRefused',
      message: expect.stringMatching(/backing file "\/etc\/shadow" resolves to \/etc\/shadow, outside the allowed directories/),
    });
    await expect(inspectImage(evil, { declaredFormat: 'qcow2' })).rejects.toMatchObject({ code: 'ImageRefused' });
  });

  it('refuses relative and symlinked escapes and protocol URIs', async () => {
    const sub = `${dir}/images`;
    fs.mkdirSync(sub, { recursive: true });
    const rel = `${sub}/rel.qcow2`;
    await runQemuImg(['create', '-q', '-f', 'qcow2', '-u', '-b', '../../../../../../etc/passwd', '-F', 'raw', rel, '1G']);
    await expect(inspectImage(rel, { declaredFormat: 'qcow2', allowedDirs: [sub] })).rejects.toMatchObject({ code: 'ImageRefused', message: expect.stringMatching(/\/etc\/passwd/) });
    fs.symlinkSync('/etc/passwd', `${sub}/innocent.raw`);
    const viaLink = `${sub}/link.qcow2`;
    await runQemuImg(['create', '-q', '-f', 'qcow2', '-u', '-b', 'innocent.raw', '-F', 'raw', viaLink, '1G']);
    await expect(inspectImage(viaLink, { declaredFormat: 'qcow2', allowedDirs: [sub] })).rejects.toMatchObject({ code: 'ImageRefused' });
    const nbd = `${sub}/nbd.qcow2`;
    await runQemuImg(['create', '-q', '-f', 'qcow2', '-u', '-b', 'nbd://10.0.0.1/export', '-F', 'raw', nbd, '1G']);
    await expect(inspectImage(nbd, { declaredFormat: 'qcow2', allowedDirs: [sub] })).rejects.toMatchObject({ message: expect.stringMatching(/protocol URI/) });
  });

  it('refuses a qcow2 with an external data-file pointing at a host file', async () => {
    const img = `${dir}/datafile.qcow2`;
    const r = await runQemuImg(['create', '-q', '-f', 'qcow2', '-o', `data_file=${dir}/victim.raw,data_file_raw=on`, img, '1M']);
    expect(r.code).toBe(0);
    // The data file (where guest writes would go) lies outside the directories we allow.
    expect(inspectHeader(img).dataFile).toBe(`${dir}/victim.raw`);
    await expect(inspectImage(img, { declaredFormat: 'qcow2', allowedDirs: ['/var/empty-kumo'] })).rejects.toMatchObject({ message: expect.stringMatching(/data-file/) });
    await expect(inspectImage(img, { declaredFormat: 'qcow2' })).rejects.toMatchObject({ code: 'ImageRefused', message: expect.stringMatching(/data-file/) });
  });

  it('refuses a detected format different from the declared one (qcow2 uploaded as raw, and the reverse)', async () => {
    const q = `${dir}/disguised.img`;
    await createImage(q, { format: 'qcow2', sizeBytes: 1 << 20 });
    await expect(inspectImage(q, { declaredFormat: 'raw' })).rejects.toMatchObject({ code: 'ImageRefused', message: expect.stringMatching(/declared format raw but the content is qcow2/) });
    const raw = `${dir}/plain.raw`;
    fs.writeFileSync(raw, Buffer.alloc(1 << 20));
    await expect(inspectImage(raw, { declaredFormat: 'qcow2' })).rejects.toMatchObject({ message: expect.stringMatching(/content is raw/) });
    expect((await inspectImage(raw, { declaredFormat: 'raw' })).virtualSize).toBe(1 << 20);
  });

  it('refuses a multi-file VMDK descriptor naming host files as extents', async () => {
    const desc = `${dir}/evil.vmdk`;
    fs.writeFileSync(desc, '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW 2048 FLAT "/etc/shadow" 0\n');
    expect(inspectHeader(desc)).toMatchObject({ format: 'vmdk', vmdkExtents: ['/etc/shadow'] });
    await expect(inspectImage(desc, { declaredFormat: 'vmdk' })).rejects.toMatchObject({ message: expect.stringMatching(/createType monolithicFlat is not allowed/) });
    const ok = `${dir}/ok.vmdk`;
    await convertImage(`${dir}/plain.raw`, `${dir}/tmp.qcow2`, { srcFormat: 'raw', dstFormat: 'qcow2' });
    const r = await runQemuImg(['convert', '-q', '-f', 'qcow2', '-O', 'vmdk', `${dir}/tmp.qcow2`, ok]);
    expect(r.code).toBe(0);
    expect((await inspectImage(ok, { declaredFormat: 'vmdk' })).format).toBe('vmdk');
  });
});

describe('a guest boots from a qcow2 overlay on the base image', () => {
  useGuestSlots(1);
  let driver: QemuDriver;
  afterAll(() => destroyAll(driver));

  it('root=/dev/vda on overlay.qcow2 -> ROOTFS-UP; writes land in the overlay, the base is unchanged', async () => {
    const g = testGuest();
    const base = `${dir}/guest-base.qcow2`;
    fs.copyFileSync(g.baseQcow2, base);
    const baseBytes = fs.readFileSync(base);
    const overlay = `${dir}/guest-overlay.qcow2`;
    await createImage(overlay, { format: 'qcow2', backingFile: base, backingFormat: 'qcow2', allowedDirs: [dir] });
    const vetted = await inspectImage(overlay, { declaredFormat: 'qcow2', allowedDirs: [dir] });
    expect(vetted.chain).toHaveLength(2);
    driver = testDriver(`${dir}/state`);
    await driver.spawn({
      id: 'ovl',
      machine: { accel: 'tcg' },
      memory: { sizeMb: 256 },
      boot: { kernel: g.kernel, initrd: g.initrd, cmdline: guestCmdline({ root: '/dev/vda', net: false }) },
      disks: [{ id: 'root', path: overlay, format: 'qcow2', cache: 'writeback' }],
    });
    await waitConsole(driver, 'ovl', 'ROOTFS-UP');
    await waitConsole(driver, 'ovl', 'GUEST-POWEROFF');
    expect(fs.readFileSync(base).equals(baseBytes)).toBe(true);
    expect((await imageInfo(overlay, { format: 'qcow2' }))['actual-size']).toBeGreaterThan(0);
  });
});
