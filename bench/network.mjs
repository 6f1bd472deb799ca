// ./kumo bench network — Kumo's network API against real Neutron (Debian's neutron-server from
// /work/shared/anchors/neutron-up.sh) when it is reachable, measured in the same run:
//   1. 200 port creates with 8 parallel clients on one /24 (ports/s, p50/p99 per request)
//   2. GET /v2.0/ports with those 200 ports: the first request, p50/p99 of 20 more, and p50 of 20
//      through the generic (sorting) path
//   3. network + subnet create, then delete, as one cycle (p50/p99 of 20 cycles)
//   4. RSS of the API process(es)
//   5. (Kumo only, BENCH_SCALE_PORTS, default 0 = skip) N ports on a /19, then the port list
//
// Environment:
//   KUMO_NETWORK_URL   Kumo's network API (default http://127.0.0.1:9696)
//   OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME  Kumo credentials (./kumo bench loads .kumo/openrc)
//   KUMO_NETWORK_PID   pid of the network service (default: $KUMO_STATE_DIR/run/network.pid)
//   NEUTRON_URL        real Neutron (default http://127.0.0.1:19696); NEUTRON_AUTH_URL (default
//                      http://127.0.0.1:15000/v3), NEUTRON_USERNAME/PASSWORD/PROJECT (default admin /
//                      bench-admin-pass / admin); BENCH_NEUTRON=0 skips it
//   BENCH_PORTS (200), BENCH_CLIENTS (8), BENCH_CYCLES (20)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { gain, printTable, speedup, summarize } from './lib/report.mjs';

const PORTS = Number(process.env.BENCH_PORTS ?? 200);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 8);
const CYCLES = Number(process.env.BENCH_CYCLES ?? 20);
const SCALE = Number(process.env.BENCH_SCALE_PORTS ?? 0);
const stateDir = process.env.KUMO_STATE_DIR;

async function token(authUrl, user, password, project) {
  const res = await fetch(`${authUrl.replace(/\/+$/, '').replace(/\/v3$/, '')}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ auth: { identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password } } }, scope: { project: { name: project, domain: { name: 'Default' } } } } }),
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

/** Neutron's API workers plus its agents (what a Neutron node runs for this API). */
function neutronPids() {
  const out = spawnSync('pgrep', ['-f', 'neutron-(server|dhcp-agent|linuxbridge-agent|l3-agent|metadata-agent|openvswitch-agent)'], { encoding: 'utf8' }).stdout ?? '';
  return out.split('\n').filter(Boolean).map(Number);
}

function api(base, tok) {
  return async (method, p, body) => {
    const t0 = performance.now();
    const res = await fetch(`${base}${p}`, { method, headers: { 'x-auth-token': tok, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
    const text = await res.text();
    const ms = performance.now() - t0;
    if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${text.slice(0, 300)}`);
    return { ms, json: text ? JSON.parse(text) : undefined };
  };
}

async function measure(name, base, tok, pids, cidr) {
  const call = api(base, tok);
  const out = { name };
  const net = (await call('POST', '/v2.0/networks', { network: { name: `bench-${Date.now()}` } })).json.network;
  await call('POST', '/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, cidr } });
  let rssPeak = rssOf(pids);
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssOf(pids))), 200);
  const lat = [];
  const ids = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < PORTS) {
        next++;
        const r = await call('POST', '/v2.0/ports', { port: { network_id: net.id } });
        lat.push(r.ms);
        ids.push(r.json.port.id);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  out.create = { ...summarize(lat), rate: PORTS / secs };
  // The first list after the creates renders every port (Kumo caches rendered ports by a
  // generation the database bumps on every change); `sort_key=id` asks for the same list
  // through the generic path (filters, sorting and pagination in the process), never cached.
  out.listFirst = (await call('GET', `/v2.0/ports?network_id=${net.id}`)).ms;
  const list = [];
  for (let i = 0; i < 20; i++) list.push((await call('GET', `/v2.0/ports?network_id=${net.id}`)).ms);
  out.list = summarize(list);
  const generic = [];
  for (let i = 0; i < 20; i++) generic.push((await call('GET', `/v2.0/ports?network_id=${net.id}&sort_key=id&sort_dir=asc`)).ms);
  out.listGeneric = summarize(generic);
  const del = [];
  next = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < ids.length) {
        const id = ids[next++];
        del.push((await call('DELETE', `/v2.0/ports/${id}`)).ms);
      }
    }),
  );
  out.del = summarize(del);
  await call('DELETE', `/v2.0/networks/${net.id}`);
  const cyc = [];
  for (let i = 0; i < CYCLES; i++) {
    const c0 = performance.now();
    const n = (await call('POST', '/v2.0/networks', { network: { name: `bench-cycle-${i}` } })).json.network;
    await call('POST', '/v2.0/subnets', { subnet: { network_id: n.id, ip_version: 4, cidr: '10.250.0.0/24' } });
    await call('DELETE', `/v2.0/networks/${n.id}`);
    cyc.push(performance.now() - c0);
  }
  out.cycle = summarize(cyc);
  clearInterval(sampler);
  out.rss = Math.max(rssPeak, rssOf(pids));
  return out;
}

async function scale(base, tok, n) {
  const call = api(base, tok);
  const net = (await call('POST', '/v2.0/networks', { network: { name: 'bench-scale' } })).json.network;
  await call('POST', '/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, cidr: '10.224.0.0/19' } });
  const body = { ports: Array.from({ length: 100 }, () => ({ network_id: net.id })) };
  const t0 = performance.now();
  for (let i = 0; i < n / 100; i++) await call('POST', '/v2.0/ports', body);
  const createS = (performance.now() - t0) / 1000;
  const first = (await call('GET', '/v2.0/ports')).ms;
  const list = [];
  for (let i = 0; i < 5; i++) list.push((await call('GET', '/v2.0/ports')).ms);
  const all = (await call('GET', `/v2.0/ports?network_id=${net.id}&fields=id`)).json.ports;
  for (let i = 0; i < all.length; i += 8) await Promise.all(all.slice(i, i + 8).map((p) => call('DELETE', `/v2.0/ports/${p.id}`)));
  await call('DELETE', `/v2.0/networks/${net.id}`);
  return { createS, first, list: summarize(list) };
}

const kumoUrl = (process.env.KUMO_NETWORK_URL ?? 'http://127.0.0.1:9696').replace(/\/+$/, '');
const kumoTok = await token(process.env.OS_AUTH_URL, process.env.OS_USERNAME, process.env.OS_PASSWORD, process.env.OS_PROJECT_NAME);
// Enough port quota for the run (an admin raising their own project's limit).
const me = JSON.parse(Buffer.from(kumoTok.split('.')[1] ?? '', 'base64url').toString() || '{}').p;
if (me) await fetch(`${kumoUrl}/v2.0/quotas/${me}`, { method: 'PUT', headers: { 'x-auth-token': kumoTok, 'content-type': 'application/json' }, body: JSON.stringify({ quota: { port: -1, network: -1, subnet: -1 } }) });
const pidFile = stateDir && path.join(stateDir, 'run', 'network.pid');
const kumoPids = process.env.KUMO_NETWORK_PID ? [Number(process.env.KUMO_NETWORK_PID)] : pidFile && fs.existsSync(pidFile) ? [Number(fs.readFileSync(pidFile, 'utf8'))] : pidsListeningOn(kumoUrl);

let neutron = null;
const neutronUrl = (process.env.NEUTRON_URL ?? 'http://127.0.0.1:19696').replace(/\/+$/, '');
if (process.env.BENCH_NEUTRON !== '0') {
  try {
    const tok = await token(process.env.NEUTRON_AUTH_URL ?? 'http://127.0.0.1:15000/v3', process.env.NEUTRON_USERNAME ?? 'admin', process.env.NEUTRON_PASSWORD ?? 'bench-admin-pass', process.env.NEUTRON_PROJECT ?? 'admin');
    neutron = { tok };
  } catch (err) {
    console.log(`(real Neutron not reachable at ${neutronUrl}: ${err.message}; Kumo alone)`);
  }
}

const kumo = await measure('Kumo', kumoUrl, kumoTok, kumoPids, '10.240.0.0/24');
const base = neutron ? await measure('Neutron', neutronUrl, neutron.tok, neutronPids(), '10.241.0.0/24') : null;
const row = (label, k, n, better) => [label, k, n ?? '–', n === undefined ? '–' : better(n, k)];
printTable({
  title: `Network API: ${PORTS} ports with ${CLIENTS} clients on one /24, port list, network+subnet cycle`,
  columns: ['measure', 'Kumo', 'Neutron', 'Kumo vs Neutron'],
  rows: [
    row('port create, ports/s', kumo.create.rate, base?.create.rate, gain),
    row('port create p50 ms', kumo.create.p50, base?.create.p50, speedup),
    row('port create p99 ms', kumo.create.p99, base?.create.p99, speedup),
    row(`GET /v2.0/ports (${PORTS}) p50 ms`, kumo.list.p50, base?.list.p50, speedup),
    row(`GET /v2.0/ports (${PORTS}) p99 ms`, kumo.list.p99, base?.list.p99, speedup),
    row(`GET /v2.0/ports (${PORTS}) first request ms`, kumo.listFirst, base?.listFirst, speedup),
    row(`GET /v2.0/ports?sort_key=id&sort_dir=asc (${PORTS}) p50 ms`, kumo.listGeneric.p50, base?.listGeneric.p50, speedup),
    row('port delete p50 ms', kumo.del.p50, base?.del.p50, speedup),
    row('network+subnet create/delete p50 ms', kumo.cycle.p50, base?.cycle.p50, speedup),
    row('RSS MiB (API + agents)', kumo.rss / 1048576, base ? base.rss / 1048576 : undefined, speedup),
  ],
  notes: [neutron ? `Neutron at ${neutronUrl}, same run.` : 'Real Neutron was not running (start it with /work/shared/anchors/neutron-up.sh); Kumo alone.'],
});
if (SCALE > 0) {
  const s = await scale(kumoUrl, kumoTok, SCALE);
  printTable({
    title: `Kumo alone with ${SCALE} ports (bulk creates of 100 on a /19)`,
    columns: ['measure', 'Kumo'],
    rows: [
      ['create, ports/s', SCALE / s.createS],
      [`GET /v2.0/ports (all, ≥${SCALE}) first request ms`, s.first],
      [`GET /v2.0/ports (all, ≥${SCALE}) p50 ms`, s.list.p50],
      [`GET /v2.0/ports (all, ≥${SCALE}) p99 ms`, s.list.p99],
    ],
  });
}
