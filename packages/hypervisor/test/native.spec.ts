// The native addon: KVM ioctls, TAP creation inside a namespace, SCM_RIGHTS fd passing, CPU
// affinity; and the loader's behaviour when the addon is missing (clear error, JS fallbacks).
import { spawn, spawnSync } from 'node:child_process';
import os from 'node:os';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { getAffinity, kvmInfo, loadNative, nativeStatus, openTap, setAffinity } from '../src/index.js';
import { PACKAGE_DIR, resetNativeForTest } from '../src/native.js';
import { createNetns, type TestNetns } from './netns.js';
import { tmpDir } from './helpers.js';

describe('native addon (built by the install script)', () => {
  let ns: TestNetns;
  beforeAll(() => {
    ns = createNetns();
  });
  afterAll(() => ns.destroy());

  it('is loaded from build/Release', () => {
    const s = nativeStatus();
    expect(s).toMatchObject({ available: true });
    expect(s.tried[0]).toBe(path.join(PACKAGE_DIR, 'build/Release/kumo_native.node'));
  });

  it('KVM_GET_API_VERSION is 12 and KVM_CHECK_EXTENSION answers (when /dev/kvm exists)', () => {
    const info = kvmInfo();
    if (!fs.existsSync('/dev/kvm')) {
      expect(info.openable).toBe(false);
      return;
    }
    expect(info.apiVersion).toBe(12);
    expect(info.extensions.USER_MEMORY).toBeGreaterThan(0);
    expect(info.pvm).toBe(fs.existsSync('/sys/module/kvm_pvm'));
  });

  it('creates a multi-queue TAP inside a network namespace and returns one fd per queue', () => {
    const t = openTap('kumo-nt0', { queues: 2, netns: ns.path });
    expect(t.name).toBe('kumo-nt0');
    expect(t.fds).toHaveLength(2);
    // The device exists in the namespace, not in ours.
    expect(ns.ip('-o', 'link', 'show', 'kumo-nt0')).toContain('kumo-nt0');
    expect(fs.existsSync('/sys/class/net/kumo-nt0')).toBe(false);
    for (const fd of t.fds) fs.closeSync(fd);
    // Non-persistent: gone with its last fd.
    expect(() => ns.ip('link', 'show', 'kumo-nt0')).toThrow();
  });

  it('reports errno-coded errors (bad namespace path)', () => {
    expect(() => openTap('kumo-nt1', { netns: '/nonexistent/ns' })).toThrow(/setns \/nonexistent\/ns: .*\(errno 2\)/);
  });

  it('passes an fd over a unix socket with SCM_RIGHTS (what QMP getfd uses)', async () => {
    const dir = tmpDir('fdpass');
    const sockPath = `${dir}/s.sock`;
    const file = `${dir}/payload.txt`;
    fs.writeFileSync(file, 'passed-through-scm-rights');
    // Receiver: Python's socket.recv_fds, an independent implementation of the other end.
    const py = spawn('/usr/bin/python3', [
      '-c',
      [
        'import socket,os,sys',
        `s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(sockPath)}); s.listen(1); print("L",flush=True)`,
        'c,_=s.accept(); msg,fds,_,_=socket.recv_fds(c,1024,1)',
        'print(msg.decode(), os.read(fds[0],100).decode(), flush=True)',
      ].join('\n'),
    ]);
    let out = '';
    py.stdout.on('data', (d: Buffer) => (out += d));
    await new Promise<void>((r) => py.stdout.once('data', () => r()));
    const sock = net.createConnection(sockPath);
    await new Promise((r) => sock.once('connect', r));
    const fd = fs.openSync(file, 'r');
    const handleFd = (sock as unknown as { _handle: { fd: number } })._handle.fd;
    const n = loadNative().sendFd(handleFd, fd, Buffer.from('hello'), 1000);
    fs.closeSync(fd);
    expect(n).toBe(5);
    await new Promise((r) => py.once('exit', r));
    sock.destroy();
    expect(out).toContain('hello passed-through-scm-rights');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('sets and reads CPU affinity of a thread', () => {
    const child = spawn('sleep', ['30']);
    try {
      setAffinity(child.pid!, [0]);
      expect(getAffinity(child.pid!)).toEqual([0]);
      const all = Array.from({ length: os.cpus().length }, (_, i) => i);
      setAffinity(child.pid!, all);
      expect(getAffinity(child.pid!)).toEqual(all);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('without the native addon', () => {
  afterEach(() => {
    delete process.env.KUMO_NATIVE_DISABLE;
    delete process.env.KUMO_NATIVE_PATH;
    resetNativeForTest();
  });

  it('loadNative throws one clear error saying why and how to build; a bad override path falls back to the build', () => {
    process.env.KUMO_NATIVE_PATH = '/nonexistent/kumo_native.node';
    resetNativeForTest();
    expect(nativeStatus().available).toBe(true);
    expect(nativeStatus().tried[0]).toBe('/nonexistent/kumo_native.node');
    process.env.KUMO_NATIVE_DISABLE = '1';
    resetNativeForTest();
    expect(() => loadNative()).toThrow(/Failed to load the @kumo\/hypervisor native addon .*build:native/);
  });

  it('falls back: affinity via taskset and /proc, KVM info via open(2), TAP creation refuses clearly', () => {
    process.env.KUMO_NATIVE_DISABLE = '1';
    resetNativeForTest();
    const child = spawn('sleep', ['30']);
    try {
      setAffinity(child.pid!, [0]);
      expect(getAffinity(child.pid!)).toEqual([0]);
    } finally {
      child.kill('SIGKILL');
    }
    const k = kvmInfo();
    expect(k.apiVersion).toBeNull();
    if (k.openable) expect(k.detail).toMatch(/native addon not built/);
    expect(() => openTap('kumo-x')).toThrow(/native addon/);
  });
});

describe('install script', () => {
  it('a failing native compile warns and exits 0, so the workspace install does not fail', () => {
    // A scratch copy of the package's native bits, so the real build/ is not touched.
    const dir = tmpDir('gyp');
    for (const f of ['binding.gyp', 'native', 'scripts']) fs.cpSync(path.join(PACKAGE_DIR, f), path.join(dir, f), { recursive: true });
    fs.symlinkSync(path.join(PACKAGE_DIR, 'node_modules'), path.join(dir, 'node_modules'));
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, [path.join(dir, 'scripts/build-native.cjs')], { cwd: dir, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 });
    const r = run({ CXX: '/bin/false', CC: '/bin/false' });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/WARNING: native addon build failed .*fall back or report a clear error/);
    expect(fs.existsSync(path.join(dir, 'build/Release/kumo_native.node'))).toBe(false);
    // ... unless the host insists on the addon.
    expect(run({ CXX: '/bin/false', CC: '/bin/false', KUMO_NATIVE_REQUIRED: '1' }).status).toBe(1);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

