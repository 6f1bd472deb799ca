// ./kumo bench image — upload and download of a 1 GiB image through Kumo's image API, against
// `dd` writing/reading the same amount on the same disk, and against real Glance (Debian's
// glance-api from /work/shared/anchors/glance-up.sh) when it is reachable; RSS of the API
// process(es) sampled during the upload. All measured in this run.
//
// Environment:
//   KUMO_IMAGE_URL        Kumo's image API (default http://127.0.0.1:9292)
//   OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME, OS_USER_DOMAIN_NAME, OS_PROJECT_DOMAIN_NAME
//                         credentials for Kumo (./kumo bench loads them from .kumo/openrc);
//                         or KUMO_BENCH_TOKEN, a ready token
//   KUMO_IMAGE_PID        pid of the image service (default: from $KUMO_STATE_DIR/run/image.pid,
//                         else whoever listens on the port)
//   BENCH_IMAGE_MB        image size in MiB (default 1024)
//   BENCH_REPS            rounds (default 3); Kumo and Glance alternate within a round, so a
//                         busy machine hurts both alike; the table shows medians
//   BENCH_DIR             where the source file and dd's file go (default: the image store
//                         directory, so dd writes to the same disk as the store)
//   GLANCE_URL            real Glance (default http://127.0.0.1:19292); GLANCE_AUTH_URL
//                         (default http://127.0.0.1:15000/v3), GLANCE_USERNAME/PASSWORD/PROJECT
//                         (default admin / bench-admin-pass / admin, as keystone-up.sh makes them);
//                         BENCH_GLANCE=0 skips it
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { printTable } from './lib/report.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

const MB = Number(process.env.BENCH_IMAGE_MB ?? 1024);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const SIZE = MB * 1048576;
const kumoUrl = (process.env.KUMO_IMAGE_URL ?? 'http://127.0.0.1:9292').replace(/\/+$/, '');
const stateDir = process.env.KUMO_STATE_DIR;
const dir = process.env.BENCH_DIR ?? process.env.KUMO_IMAGE_STORE_DIR ?? (stateDir ? path.join(stateDir, 'images') : '/tmp');
const mibs = (bytes, seconds) => bytes / 1048576 / seconds;

// ------------------------------------------------------------------ helpers

async function token(authUrl, user, password, project, userDomain = 'Default', projectDomain = 'Default') {
  const res = await fetch(`${authUrl.replace(/\/+$/, '')}/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: user, domain: { name: userDomain }, password } } },
        scope: { project: { name: project, domain: { name: projectDomain } } },
      },
    }),
    signal: AbortSignal.timeout(30000),
  });
  const t = res.headers.get('x-subject-token');
  if (res.status !== 201 || !t) throw new Error(`${authUrl}: token request answered ${res.status}`);
  return t;
}

function rssOf(pids) {
  let total = 0;
  for (const pid of pids) {
    try {
      total += Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
    } catch {
      /* gone */
    }
  }
  return total;
}

function pidsListeningOn(url) {
  const port = new URL(url).port || '80';
  const out = spawnSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' }).stdout ?? '';
  return [...new Set([...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])))];
}

function kumoPids() {
  if (process.env.KUMO_IMAGE_PID) return [Number(process.env.KUMO_IMAGE_PID)];
  const f = stateDir && path.join(stateDir, 'run', 'image.pid');
  if (f && fs.existsSync(f)) return [Number(fs.readFileSync(f, 'utf8'))];
  return pidsListeningOn(kumoUrl);
}

function glancePids() {
  const out = spawnSync('pgrep', ['-f', 'glance-api-uwsgi'], { encoding: 'utf8' }).stdout ?? '';
  return out.split('\n').filter(Boolean).map(Number);
}

function api(base, tok, method, p, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(`${base}${p}`, { method, headers: { 'x-auth-token': tok, ...(data ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      let s = '';
      res.on('data', (d) => (s += d));
      res.on('end', () => resolve({ status: res.statusCode, json: s ? JSON.parse(s) : undefined }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

function upload(base, tok, id, file) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}/v2/images/${id}/file`, { method: 'PUT', headers: { 'x-auth-token': tok, 'content-type': 'application/octet-stream', 'content-length': String(SIZE) } }, (res) => {
      let s = '';
      res.on('data', (d) => (s += d));
      res.on('end', () => (res.statusCode === 204 ? resolve() : reject(new Error(`upload answered ${res.statusCode}: ${s}`))));
    });
    req.on('error', reject);
    fs.createReadStream(file, { highWaterMark: 1 << 20 }).pipe(req);
  });
}

function download(base, tok, id) {
  return new Promise((resolve, reject) => {
    http
      .get(`${base}/v2/images/${id}/file`, { headers: { 'x-auth-token': tok } }, (res) => {
        let bytes = 0;
        res.on('data', (d) => (bytes += d.length));
        res.on('end', () => (res.statusCode === 200 && bytes === SIZE ? resolve() : reject(new Error(`download answered ${res.statusCode} with ${bytes} bytes`))));
      })
      .on('error', reject);
  });
}

/** Upload + download of SIZE bytes against one Glance-compatible API, RSS sampled every 50 ms. */
async function measure(name, base, tok, pids, file) {
  const created = await api(base, tok, 'POST', '/v2/images', { name: `bench-image-${process.pid}`, disk_format: 'raw', container_format: 'bare', visibility: 'private' });
  if (created.status !== 201) throw new Error(`${name}: create answered ${created.status}`);
  const id = created.json.id;
  try {
    const before = rssOf(pids);
    let peak = before;
    const timer = setInterval(() => (peak = Math.max(peak, rssOf(pids))), 50);
    let t = process.hrtime.bigint();
    try {
      await upload(base, tok, id, file);
    } finally {
      clearInterval(timer);
    }
    const up = Number(process.hrtime.bigint() - t) / 1e9;
    t = process.hrtime.bigint();
    await download(base, tok, id);
    const down = Number(process.hrtime.bigint() - t) / 1e9;
    return { name, up: mibs(SIZE, up), down: mibs(SIZE, down), upSeconds: up, downSeconds: down, rssBefore: before, rssPeak: peak };
  } finally {
    await api(base, tok, 'DELETE', `/v2/images/${id}`).catch(() => undefined);
  }
}

/** Same client against lib/raw-file-server.mjs: HTTP + disk with nothing else. */
async function rawHttp(file) {
  const target = path.join(dir, `bench-raw-${process.pid}.bin`);
  const server = spawn(process.execPath, [path.join(here, 'lib', 'raw-file-server.mjs'), target], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise((resolve, reject) => {
      server.stdout.once('data', (d) => resolve(Number(String(d).trim())));
      server.once('exit', (code) => reject(new Error(`raw file server exited with ${code}`)));
    });
    const base = `http://127.0.0.1:${port}`;
    let t = process.hrtime.bigint();
    await new Promise((resolve, reject) => {
      const req = http.request(`${base}/x`, { method: 'PUT', headers: { 'content-length': String(SIZE) } }, (res) => res.resume().on('end', resolve));
      req.on('error', reject);
      fs.createReadStream(file, { highWaterMark: 1 << 20 }).pipe(req);
    });
    const up = Number(process.hrtime.bigint() - t) / 1e9;
    t = process.hrtime.bigint();
    await new Promise((resolve, reject) => http.get(`${base}/x`, (res) => res.resume().on('end', resolve)).on('error', reject));
    const down = Number(process.hrtime.bigint() - t) / 1e9;
    return { up: mibs(SIZE, up), down: mibs(SIZE, down), rss: rssOf([server.pid]) };
  } finally {
    server.kill();
    fs.rmSync(target, { force: true });
  }
}

function dd() {
  const target = path.join(dir, `bench-dd-${process.pid}.bin`);
  try {
    let t = process.hrtime.bigint();
    const w = spawnSync('dd', ['if=/dev/zero', `of=${target}`, 'bs=1M', `count=${MB}`, 'conv=fdatasync'], { encoding: 'utf8' });
    if (w.status !== 0) throw new Error(`dd failed: ${w.stderr}`);
    const write = Number(process.hrtime.bigint() - t) / 1e9;
    t = process.hrtime.bigint();
    spawnSync('dd', [`if=${target}`, 'of=/dev/null', 'bs=1M'], { encoding: 'utf8' });
    const read = Number(process.hrtime.bigint() - t) / 1e9;
    return { write: mibs(SIZE, write), read: mibs(SIZE, read) };
  } finally {
    fs.rmSync(target, { force: true });
  }
}

// ------------------------------------------------------------------ run

fs.mkdirSync(dir, { recursive: true });
const source = path.join(dir, `bench-source-${process.pid}.raw`);
fs.writeFileSync(source, '');
fs.truncateSync(source, SIZE); // sparse: reading it costs no disk I/O, writing it does
const notes = [];
const mib = (n) => (n / 1048576).toFixed(0);
const load = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
try {
  const disk = dd();
  const raw = await rawHttp(source);
  const kumoToken =
    process.env.KUMO_BENCH_TOKEN ??
    (await token(process.env.OS_AUTH_URL ?? 'http://127.0.0.1:5000/v3', process.env.OS_USERNAME ?? 'admin', process.env.OS_PASSWORD ?? '', process.env.OS_PROJECT_NAME ?? 'admin', process.env.OS_USER_DOMAIN_NAME, process.env.OS_PROJECT_DOMAIN_NAME));
  const loads = [];
  const kumoRuns = [];
  const glanceRuns = [];
  let glance = { url: (process.env.GLANCE_URL ?? 'http://127.0.0.1:19292').replace(/\/+$/, ''), token: undefined };
  if (process.env.BENCH_GLANCE === '0') {
    notes.push('Glance: skipped (BENCH_GLANCE=0).');
    glance = undefined;
  } else {
    try {
      glance.token = await token(process.env.GLANCE_AUTH_URL ?? 'http://127.0.0.1:15000/v3', process.env.GLANCE_USERNAME ?? 'admin', process.env.GLANCE_PASSWORD ?? 'bench-admin-pass', process.env.GLANCE_PROJECT ?? 'admin');
    } catch (err) {
      notes.push(`Glance: skipped — not reachable (${err.message}). Start it with KS_PORT=15000 GL_PORT=19292 /work/shared/anchors/keystone-up.sh && KS_PORT=15000 GL_PORT=19292 /work/shared/anchors/glance-up.sh.`);
      glance = undefined;
    }
  }
  for (let i = 0; i < REPS; i++) {
    loads.push(load().split(' ')[0]);
    kumoRuns.push(await measure('Kumo', kumoUrl, kumoToken, kumoPids(), source));
    if (glance) glanceRuns.push(await measure('Glance (Debian glance-api, Zed, uwsgi)', glance.url, glance.token, glancePids(), source));
  }
  const median = (runs) => {
    const pick = (k) => [...runs.map((r) => r[k])].sort((a, b) => a - b)[Math.floor(runs.length / 2)];
    return { name: runs[0].name, up: pick('up'), down: pick('down'), rssBefore: Math.min(...runs.map((r) => r.rssBefore)), rssPeak: Math.max(...runs.map((r) => r.rssPeak)), spreadUp: runs.map((r) => r.up.toFixed(0)).join('/'), spreadDown: runs.map((r) => r.down.toFixed(0)).join('/') };
  };
  const kumo = median(kumoRuns);
  const g = glanceRuns.length ? median(glanceRuns) : undefined;
  notes.push(`Per-round MiB/s (up, down): Kumo ${kumo.spreadUp}, ${kumo.spreadDown}${g ? `; Glance ${g.spreadUp}, ${g.spreadDown}` : ''}. 1-minute load average at each round's start: ${loads.join(', ')} (2 cores, shared machine).`);
  const rows = [
    ['dd (write, conv=fdatasync / read)', disk.write, disk.read, '1.00×', '1.00×', '–'],
    ['raw Node HTTP (file in/out, fsync, nothing else)', raw.up, raw.down, `${(raw.up / disk.write).toFixed(2)}×`, `${(raw.down / disk.read).toFixed(2)}×`, `${mib(raw.rss)}`],
    [kumo.name, kumo.up, kumo.down, `${(kumo.up / disk.write).toFixed(2)}×`, `${(kumo.down / disk.read).toFixed(2)}×`, `${mib(kumo.rssBefore)} → ${mib(kumo.rssPeak)}`],
  ];
  if (g) {
    rows.push([g.name, g.up, g.down, `${(g.up / disk.write).toFixed(2)}×`, `${(g.down / disk.read).toFixed(2)}×`, `${mib(g.rssBefore)} → ${mib(g.rssPeak)}`]);
    rows.push(['Kumo / Glance', `${(kumo.up / g.up).toFixed(2)}×`, `${(kumo.down / g.down).toFixed(2)}×`, '', '', `${(kumo.rssPeak / g.rssPeak).toFixed(2)}×`]);
  }
  notes.unshift(
    `${MB} MiB sparse source file, raw image, one client, loopback, median of ${REPS} round(s); Kumo's upload time includes hashing (md5+sha512), fsync, qemu-img inspection and commit (Glance: hashing, no fsync, no inspection); dd and Kumo's store on ${dir}; downloads read the page cache (dd read too).`,
  );
  printTable({ title: `Image data path: ${MB} MiB upload and download`, columns: ['', 'upload MiB/s', 'download MiB/s', 'upload vs dd', 'download vs dd', 'RSS during upload (MiB)'], rows, notes });
} finally {
  fs.rmSync(source, { force: true });
}
