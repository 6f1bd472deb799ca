// ./kumo bench compute — Nova-compatible compute API with FakeDriver hosts:
//   serial create→ACTIVE ×20, 50 parallel boots on one fake host, GET /servers/detail with 110
//   servers, RSS of the whole control plane, and (BENCH_SCALE=1) 1 000 boots on 100 extra fake
//   hosts served by one extra agent process (boots/s, overcommit check); those 100 `scale-N`
//   compute services are deleted again at the end (DELETE /os-services/{id}).
// A real Nova (../shared/anchors/nova-up.sh, fake driver) is measured in the same run when
// NOVA_URL answers (default http://127.0.0.1:18774/v2.1; NOVA_AUTH_URL, NOVA_USERNAME, NOVA_PASSWORD,
// NOVA_PROJECT, NOVA_IMAGE, NOVA_FLAVOR, NOVA_HOST as nova-up.sh sets them up); BENCH_NOVA=0 skips it.
//
// Environment: KUMO_COMPUTE_URL, KUMO_IMAGE_URL, OS_* (./kumo bench loads them), KUMO_STATE_DIR,
// BENCH_SERIAL (20), BENCH_PARALLEL (50), BENCH_LIST (110), BENCH_HOST (fake-1).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { printTable, summarize } from './lib/report.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = process.env;
const SERIAL = Number(env.BENCH_SERIAL ?? 20);
const PARALLEL = Number(env.BENCH_PARALLEL ?? 50);
const LIST = Number(env.BENCH_LIST ?? 110);
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
// Nova's API (uwsgi here) resets reused keep-alive connections now and then ("socket hang up"
// on a POST that cannot be retried blindly): it gets a fresh connection per request.
const freshAgent = new http.Agent({ keepAlive: false, maxSockets: 32 });
const agentFor = new Map();

async function token(authUrl, user, password, project) {
  const res = await fetch(`${authUrl.replace(/\/+$/, '')}/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ auth: { identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password } } }, scope: { project: { name: project, domain: { name: 'Default' } } } } }),
  });
  const t = res.headers.get('x-subject-token');
  if (res.status !== 201 || !t) throw new Error(`${authUrl}: token request answered ${res.status}`);
  const body = await res.json();
  return { token: t, projectId: body.token.project.id };
}

// Per-endpoint request headers: real Nova is asked for microversion 2.37, the first that lets a
// server boot with `networks: "none"` (without it Nova tries the external network and fails).
const extraHeaders = new Map();

function api(base, tok, method, p, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(`${base}${p}`, { method, agent: agentFor.get(base) ?? agent, headers: { 'x-auth-token': tok, ...(extraHeaders.get(base) ?? {}), ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, json, text });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitStatus(c, id, want, timeoutMs = 600000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await api(c.url, c.token, 'GET', `/servers/${id}`);
    const s = r.json?.server;
    if (want === 'GONE' ? r.status === 404 : s && (s.status === want || s.status === 'ERROR') && !s['OS-EXT-STS:task_state']) return s?.status ?? 'GONE';
    if (Date.now() > deadline) throw new Error(`${id} not ${want} after ${timeoutMs} ms`);
    await sleep(c.pollMs);
  }
}

async function boot(c, name, extra = {}) {
  const r = await api(c.url, c.token, 'POST', '/servers', { server: { name, imageRef: c.image, flavorRef: c.flavor, ...(c.bootExtra ?? {}), ...extra } });
  if (r.status !== 202) throw new Error(`boot ${name}: ${r.status} ${r.text}`);
  return r.json.server.id;
}

async function deleteAll(c, ids) {
  for (let i = 0; i < ids.length; i += 20) {
    const batch = ids.slice(i, i + 20);
    await Promise.all(batch.map((id) => api(c.url, c.token, 'DELETE', `/servers/${id}`)));
    await Promise.all(batch.map((id) => waitStatus(c, id, 'GONE')));
  }
}

function rssMb(pids) {
  let kb = 0;
  for (const pid of pids) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      /* gone */
    }
  }
  return kb / 1024;
}

/** Processes whose command line matches (the OpenStack anchors: uwsgi apps, agents, daemons). */
function pidsMatching(re) {
  const pids = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (re.test(fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' '))) pids.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return pids;
}

function kumoPids() {
  const dir = path.join(env.KUMO_STATE_DIR ?? path.join(here, '..', '.kumo'), 'run');
  try {
    return fs.readdirSync(dir).filter((f) => f.endsWith('.pid')).map((f) => Number(fs.readFileSync(path.join(dir, f), 'utf8')));
  } catch {
    return [];
  }
}

async function run(c) {
  const out = {};
  // 1. serial create → ACTIVE
  const serial = [];
  const created = [];
  for (let i = 0; i < SERIAL; i++) {
    const t0 = performance.now();
    const id = await boot(c, `bench-serial-${i}`);
    const st = await waitStatus(c, id, 'ACTIVE');
    if (st !== 'ACTIVE') throw new Error(`serial boot ${i} ended ${st}`);
    serial.push(performance.now() - t0);
    created.push(id);
  }
  out.serial = summarize(serial);
  await deleteAll(c, created);
  // 2. parallel boots on one host
  const t0 = performance.now();
  const ids = await Promise.all(Array.from({ length: PARALLEL }, (_, i) => boot(c, `bench-par-${i}`, c.forceHost ? { availability_zone: `nova:${c.forceHost}` } : {})));
  const states = await Promise.all(ids.map((id) => waitStatus(c, id, 'ACTIVE')));
  out.parallelS = (performance.now() - t0) / 1000;
  out.parallelErrors = states.filter((s) => s !== 'ACTIVE').length;
  // 3. list with LIST servers
  const more = await Promise.all(Array.from({ length: Math.max(0, LIST - PARALLEL) }, (_, i) => boot(c, `bench-list-${i}`)));
  await Promise.all(more.map((id) => waitStatus(c, id, 'ACTIVE')));
  const lat = [];
  for (let i = 0; i < 30; i++) {
    const s = performance.now();
    const r = await api(c.url, c.token, 'GET', '/servers/detail');
    lat.push(performance.now() - s);
    if (i === 0) out.listed = r.json.servers.length;
  }
  out.list = summarize(lat);
  out.rss = c.rss();
  await deleteAll(c, [...ids, ...more]);
  return out;
}

/** Scheduler decisions from the service's /metrics histogram: bucket counts by upper bound. */
async function scheduleBuckets(c) {
  const res = await fetch(c.url.replace(/\/v2\.1$/, '') + '/metrics');
  const out = new Map();
  for (const line of (await res.text()).split('\n')) {
    const m = /^kumo_compute_schedule_seconds_bucket\{([^}]*)\} (\d+)/.exec(line);
    const le = m && m[1].includes('outcome="placed"') ? /le="([^"]+)"/.exec(m[1])?.[1] : undefined;
    if (le) out.set(le, Number(m[2]));
  }
  return out;
}

function p99Of(before, after) {
  const les = [...after.keys()].sort((a, b) => (a === '+Inf' ? 1 : b === '+Inf' ? -1 : Number(a) - Number(b)));
  const total = (after.get('+Inf') ?? 0) - (before.get('+Inf') ?? 0);
  for (const le of les) if ((after.get(le) ?? 0) - (before.get(le) ?? 0) >= 0.99 * total) return le === '+Inf' ? Infinity : Number(le) * 1000;
  return NaN;
}

async function scale(c) {
  // 100 more fake hosts in one agent process, 1 000 boots, no overcommit.
  const hosts = Array.from({ length: 100 }, (_, i) => `scale-${i + 1}`);
  const child = spawn(process.execPath, [path.join(here, '..', 'services', 'compute', 'dist', 'agent', 'main.js')], {
    env: { ...env, KUMO_AGENT_HOSTS: hosts.join(','), KUMO_AGENT_VCPUS: '8', KUMO_AGENT_MEMORY_MB: '8192', KUMO_AGENT_CPU_RATIO: '2', KUMO_AGENT_REPORT_S: '10', KUMO_CONFIG_FILE: path.join(env.KUMO_STATE_DIR ?? '.kumo', 'kumo.env') },
    stdio: 'ignore',
  });
  try {
    const until = Date.now() + 60000;
    for (;;) {
      const r = await api(c.url, c.token, 'GET', '/os-hypervisors');
      if (r.json.hypervisors.filter((h) => h.hypervisor_hostname.startsWith('scale-') && h.state === 'up').length === 100) break;
      if (Date.now() > until || child.exitCode !== null) throw new Error('the 100 extra fake hosts did not register within 60 s (agent log: run it by hand with KUMO_AGENT_HOSTS=scale-1)');
      await sleep(500);
    }
    const N = Number(env.BENCH_SCALE_BOOTS ?? 1000);
    const before = await scheduleBuckets(c);
    const t0 = performance.now();
    const ids = [];
    for (let i = 0; i < N; i += 50) ids.push(...(await Promise.all(Array.from({ length: Math.min(50, N - i) }, (_, k) => boot(c, `bench-scale-${i + k}`)))));
    const states = [];
    const slow = { ...c, pollMs: 250 };
    for (let i = 0; i < ids.length; i += 100) states.push(...(await Promise.all(ids.slice(i, i + 100).map((id) => waitStatus(slow, id, 'ACTIVE')))));
    const secs = (performance.now() - t0) / 1000;
    const hv = (await api(c.url, c.token, 'GET', '/os-hypervisors/detail')).json.hypervisors;
    const over = hv.filter((h) => h.vcpus_used > h.vcpus * (h.hypervisor_hostname.startsWith('scale-') ? 2 : 4) || h.memory_mb_used > h.memory_mb).length;
    const result = { boots: N, secs, perSec: N / secs, active: states.filter((s) => s === 'ACTIVE').length, overcommitted: over, decisionP99: p99Of(before, await scheduleBuckets(c)) };
    await deleteAll(c, ids);
    return result;
  } finally {
    // Stop the extra agent first (a live one would register its hosts again), then delete its
    // 100 services so the dev stack is left as it was.
    const exited = child.exitCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(killTimer);
    await sleep(1000); // a report the agent sent just before it stopped is consumed before the deletes
    await deleteServices(c, new Set(hosts));
  }
}

/** DELETE /os-services/{id} for the given hosts; a 409 (still hosting instances) or 404 is a warning. */
async function deleteServices(c, hosts) {
  const list = await api(c.url, c.token, 'GET', '/os-services?binary=nova-compute');
  if (list.status !== 200) {
    console.error(`warning: the scale-N services were not deleted: os-services answered ${list.status}`);
    return;
  }
  const services = list.json.services.filter((s) => hosts.has(s.host));
  const warnings = [];
  for (let i = 0; i < services.length; i += 20) {
    await Promise.all(
      services.slice(i, i + 20).map(async (s) => {
        const r = await api(c.url, c.token, 'DELETE', `/os-services/${s.id}`);
        if (r.status !== 204) warnings.push(`${s.host} (id ${s.id}): ${r.status} ${r.json?.conflictingRequest?.message ?? r.json?.itemNotFound?.message ?? r.text}`);
      }),
    );
  }
  for (const w of warnings) console.error(`warning: compute service ${w} not deleted`);
}

async function main() {
  const url = (env.KUMO_COMPUTE_URL ?? 'http://127.0.0.1:8774').replace(/\/+$/, '') + '/v2.1';
  const auth = await token(env.OS_AUTH_URL ?? 'http://127.0.0.1:5000/v3', env.OS_USERNAME ?? 'admin', env.OS_PASSWORD ?? '', env.OS_PROJECT_NAME ?? 'admin');
  const imageUrl = (env.KUMO_IMAGE_URL ?? 'http://127.0.0.1:9292').replace(/\/+$/, '');
  const images = await api(imageUrl, auth.token, 'GET', '/v2/images?name=kumo-test');
  const image = images.json?.images?.[0]?.id;
  if (!image) throw new Error('the kumo-test image is missing (./kumo up seeds it)');
  const kumo = { url, token: auth.token, image, flavor: '42', pollMs: 20, forceHost: env.BENCH_HOST ?? 'fake-1', rss: () => rssMb(kumoPids()) };
  // The admin project needs room for 110 servers.
  const quota = await api(url, auth.token, 'GET', `/os-quota-sets/${auth.projectId}`);
  await api(url, auth.token, 'PUT', `/os-quota-sets/${auth.projectId}`, { quota_set: { instances: -1, cores: -1, ram: -1 } });
  const rows = [];
  try {
    const k = await run(kumo);
    let n;
    if (env.BENCH_NOVA !== '0') {
      try {
        const nurl = (env.NOVA_URL ?? 'http://127.0.0.1:18774/v2.1').replace(/\/+$/, '');
        const nauth = await token(env.NOVA_AUTH_URL ?? 'http://127.0.0.1:15000/v3', env.NOVA_USERNAME ?? 'admin', env.NOVA_PASSWORD ?? 'bench-admin-pass', env.NOVA_PROJECT ?? 'admin');
        agentFor.set(nurl, freshAgent);
        extraHeaders.set(nurl, { 'openstack-api-version': 'compute 2.37', 'x-openstack-nova-api-version': '2.37' });
        const nq = await api(nurl, nauth.token, 'PUT', `/os-quota-sets/${nauth.projectId}`, { quota_set: { instances: -1, cores: -1, ram: -1 } });
        if (nq.status !== 200) throw new Error(`could not lift Nova's quota for the bench: ${nq.status} ${nq.text}`);
        n = await run({ url: nurl, token: nauth.token, image: env.NOVA_IMAGE, flavor: env.NOVA_FLAVOR ?? '1', pollMs: 200, forceHost: env.NOVA_HOST, bootExtra: { networks: 'none' }, rss: () => rssMb(pidsMatching(/(^|\/)(nova-|placement|neutron-|keystone|glance)|\/etc\/(nova|placement|neutron|keystone|glance)\//)) });
      } catch (err) {
        console.error(`real Nova not measured: ${err.message}`);
      }
    }
    const ratio = (a, b) => (n ? `${(b / a).toFixed(1)}×` : '–');
    rows.push([`serial create→ACTIVE ×${SERIAL}, p50 ms`, k.serial.p50, n?.serial.p50 ?? '–', ratio(k.serial.p50, n?.serial.p50)]);
    rows.push([`serial create→ACTIVE ×${SERIAL}, p99 ms`, k.serial.p99, n?.serial.p99 ?? '–', ratio(k.serial.p99, n?.serial.p99)]);
    rows.push([`${PARALLEL} parallel boots on one fake host, s`, k.parallelS, n?.parallelS ?? '–', ratio(k.parallelS, n?.parallelS)]);
    rows.push([`GET /servers/detail with ${k.listed} servers, p50 ms`, k.list.p50, n?.list.p50 ?? '–', ratio(k.list.p50, n?.list.p50)]);
    rows.push([`GET /servers/detail with ${k.listed} servers, p99 ms`, k.list.p99, n?.list.p99 ?? '–', ratio(k.list.p99, n?.list.p99)]);
    rows.push(['RSS of the whole control plane (all services + agent), MiB', k.rss, n?.rss ?? '–', n ? `${(n.rss / k.rss).toFixed(1)}× less` : '–']);
    if (env.BENCH_SCALE === '1') {
      const s = await scale(kumo);
      rows.push([`${s.boots} boots on 100 extra fake hosts, boots/s`, s.perSec, '–', '–']);
      rows.push([`  of which ACTIVE / hosts over capacity`, `${s.active} / ${s.overcommitted}`, '–', '–']);
      rows.push([`  scheduler decision p99 (histogram bucket bound), ms`, `≤ ${s.decisionP99}`, '–', '–']);
    }
  } finally {
    await api(url, auth.token, 'PUT', `/os-quota-sets/${auth.projectId}`, { quota_set: { instances: quota.json.quota_set.instances, cores: quota.json.quota_set.cores, ram: quota.json.quota_set.ram } });
  }
  printTable({
    title: 'compute (FakeDriver hosts)',
    columns: ['metric', 'Kumo', 'Nova (fake driver)', 'Kumo faster by'],
    rows,
    notes: ['Reference figures of real Nova measured earlier on this machine (shared/anchors/README.md): create→ACTIVE p50 0.91 s, 50 parallel boots 44 s, /servers/detail with 110 servers p50 234 ms, control plane ≈ 4.1 GB RSS.'],
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
