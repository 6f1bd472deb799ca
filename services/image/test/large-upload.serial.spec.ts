import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, createTestVhost, type TestDatabase, TestIdentity, type TestVhost, waitUntil } from '@kumo/service-kit/testing';

/**
 * A 1 GiB upload and download through the real `node dist/main.js` process, sampling that
 * process's RSS all along: data is streamed, so memory must stay flat (bounded by buffers, not
 * by the image size). Serial: it writes and reads 1 GiB and loads both cores.
 */
const PKG = path.resolve(__dirname, '..');
const SIZE = Number(process.env.KUMO_IMAGE_LARGE_UPLOAD_BYTES ?? 1 << 30);
const RSS_BUDGET = 96 << 20;

let db: TestDatabase;
let vhost: TestVhost;
let identity: TestIdentity;
let child: ChildProcess;
let url: string;
let token: string;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-image-large-'));
const source = path.join(dir, 'sparse-source.raw');
const port = 20000 + (process.pid % 20000);

function rssOf(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/** Samples the RSS of `pid` every 50 ms while `work` runs. */
async function sampled<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; peak: number; before: number }> {
  const before = rssOf(pid);
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 50);
  try {
    const result = await work();
    peak = Math.max(peak, rssOf(pid));
    return { result, peak, before };
  } finally {
    clearInterval(timer);
  }
}

function call(method: string, p: string, body?: unknown): Promise<{ status: number; json: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(`${url}${p}`, { method, headers: { 'x-auth-token': token, ...(data ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      let s = '';
      res.on('data', (d) => (s += d));
      res.on('end', () => resolve({ status: res.statusCode!, json: s ? JSON.parse(s) : undefined }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

beforeAll(async () => {
  const built = spawnSync('pnpm', ['exec', 'tsc', '-p', 'tsconfig.build.json'], { cwd: PKG, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`building services/image failed (run 'pnpm turbo run build' first):\n${built.stdout}${built.stderr}`);
  [db, vhost, identity] = await Promise.all([createTestDatabase('kumo_image_large'), createTestVhost('kumo-image-large'), TestIdentity.start()]);
  token = await identity.token({ projectId: 'large-project', roles: ['member', 'reader'] });
  const env = {
    ...process.env,
    KUMO_DATABASE_URL: db.url,
    KUMO_AMQP_URL: vhost.url,
    KUMO_IDENTITY_URL: identity.url,
    KUMO_IMAGE_PORT: String(port),
    KUMO_BIND_HOST: '127.0.0.1',
    KUMO_IMAGE_STORE_DIR: path.join(dir, 'store'),
    KUMO_LOG_LEVEL: 'warn',
  };
  const migrate = spawnSync(process.execPath, ['dist/main.js', 'migrate'], { cwd: PKG, env, encoding: 'utf8' });
  if (migrate.status !== 0) throw new Error(migrate.stderr);
  child = spawn(process.execPath, ['dist/main.js'], { cwd: PKG, env, stdio: ['ignore', 'ignore', 'inherit'] });
  url = `http://127.0.0.1:${port}`;
  await waitUntil('the image service to listen', async () => (await fetch(`${url}/healthz`)).ok, { timeoutMs: 30000, intervalMs: 200 });
  fs.writeFileSync(source, '');
  fs.truncateSync(source, SIZE);
}, 120000);

afterAll(async () => {
  child?.kill('SIGTERM');
  await new Promise((r) => (child?.exitCode !== null ? r(undefined) : child.once('exit', r)));
  await Promise.all([db?.drop(), vhost?.delete(), identity?.close()]);
  fs.rmSync(dir, { recursive: true, force: true });
}, 60000);

it(`uploads and downloads ${SIZE} bytes with flat RSS`, async () => {
  const img = await call('POST', '/v2/images', { name: 'large', disk_format: 'raw', container_format: 'bare' });
  expect(img.status).toBe(201);
  const id = img.json.id as string;
  // Warm up (JIT, pools; with KUMO_IMAGE_HASH_THREADS=true also the two hashing threads, which
  // 32 MiB starts) so that the baseline is the steady state.
  const warm = await call('POST', '/v2/images', { name: 'warm', disk_format: 'raw', container_format: 'bare' });
  await new Promise<void>((resolve, reject) => {
    const req = http.request(`${url}/v2/images/${warm.json.id}/file`, { method: 'PUT', headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream' } }, (res) => res.resume().on('end', resolve));
    req.on('error', reject);
    req.end(Buffer.alloc(32 << 20));
  });

  const started = Date.now();
  const up = await sampled(child.pid!, () =>
    new Promise<number>((resolve, reject) => {
      const req = http.request(`${url}/v2/images/${id}/file`, { method: 'PUT', headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream', 'content-length': String(SIZE) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      fs.createReadStream(source, { highWaterMark: 1 << 20 }).pipe(req);
    }),
  );
  const upSeconds = (Date.now() - started) / 1000;
  expect(up.result).toBe(204);

  const shown = await call('GET', `/v2/images/${id}`);
  const expectedMd5 = createHash('md5');
  for await (const chunk of fs.createReadStream(source, { highWaterMark: 4 << 20 })) expectedMd5.update(chunk as Buffer);
  expect(shown.json).toMatchObject({ status: 'active', size: SIZE, virtual_size: SIZE, checksum: expectedMd5.digest('hex') });

  const dlStarted = Date.now();
  const down = await sampled(child.pid!, () =>
    new Promise<{ md5: string; bytes: number }>((resolve, reject) => {
      http
        .get(`${url}/v2/images/${id}/file`, { headers: { 'x-auth-token': token } }, (res) => {
          const h = createHash('md5');
          let bytes = 0;
          res.on('data', (d: Buffer) => {
            h.update(d);
            bytes += d.length;
          });
          res.on('end', () => resolve({ md5: h.digest('hex'), bytes }));
        })
        .on('error', reject);
    }),
  );
  const downSeconds = (Date.now() - dlStarted) / 1000;
  expect(down.result).toEqual({ md5: shown.json.checksum, bytes: SIZE });

  const mib = (n: number) => (n / 1048576).toFixed(1);
  console.log(
    `large upload: ${mib(SIZE)} MiB up in ${upSeconds.toFixed(1)} s (${mib(SIZE / upSeconds)} MiB/s), RSS ${mib(up.before)} -> peak ${mib(up.peak)} MiB; ` +
      `down in ${downSeconds.toFixed(1)} s, RSS ${mib(down.before)} -> peak ${mib(down.peak)} MiB`,
  );
  expect(up.peak - up.before).toBeLessThan(RSS_BUDGET);
  expect(down.peak - down.before).toBeLessThan(RSS_BUDGET);
}, 600000);
