#!/usr/bin/env node
// bench/identity.mjs — token issue and token validation throughput/latency of Kumo's identity,
// side by side with real Keystone (Debian's package, started by shared/anchors/keystone-up.sh)
// measured in the same run with the same load generator; plus the cost of local token
// validation (service-kit's TokenVerifier.verify, what every service does per request).
//
//   KUMO_IDENTITY_URL=http://127.0.0.1:5000 OS_USERNAME=admin OS_PASSWORD=... node bench/identity.mjs
//
// Environment:
//   KUMO_IDENTITY_URL            Kumo identity (default http://127.0.0.1:5000)
//   OS_USERNAME OS_PASSWORD OS_PROJECT_NAME OS_USER_DOMAIN_NAME OS_PROJECT_DOMAIN_NAME  Kumo admin
//   BENCH_DURATION_S=10          seconds per load run;  BENCH_CONCURRENCY="8 32"
//   KEYSTONE_URL                 an already running Keystone to compare with (skips keystone-up.sh)
//   KEYSTONE_PASSWORD            its admin password (default bench-admin-pass, keystone-up.sh's)
//   BENCH_SKIP_KEYSTONE=1        no baseline;  KS_PORT=15000 KS_DB=sqlite  passed to keystone-up.sh
//   KUMO_SHARED_DIR              where anchors/keystone-up.sh is (default ../shared next to the repo)
// Prints a markdown table. Loopback only; every loop is bounded in time.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..');
const DURATION = Number(process.env.BENCH_DURATION_S ?? 10) * 1000;
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '8 32').split(/\s+/).filter(Boolean).map(Number);

const kumo = {
  name: 'Kumo',
  url: (process.env.KUMO_IDENTITY_URL ?? 'http://127.0.0.1:5000').replace(/\/v3\/?$/, '').replace(/\/$/, ''),
  user: process.env.OS_USERNAME ?? 'admin',
  password: process.env.OS_PASSWORD ?? process.env.KUMO_ADMIN_PASSWORD,
  project: process.env.OS_PROJECT_NAME ?? 'admin',
  userDomain: process.env.OS_USER_DOMAIN_NAME ?? 'Default',
  projectDomain: process.env.OS_PROJECT_DOMAIN_NAME ?? 'Default',
};
for (const u of [kumo.url, process.env.KEYSTONE_URL ?? 'http://127.0.0.1']) {
  if (!/^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?/.test(u)) throw new Error(`refusing to load a non-loopback URL: ${u}`);
}
if (!kumo.password) {
  console.error('Set OS_PASSWORD (the Kumo admin password), e.g. from the exports ./kumo up prints.');
  process.exit(2);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function call(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolveCall, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(url, { method, agent, headers: { 'content-type': 'application/json', ...(data ? { 'content-length': data.length } : {}), ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolveCall({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.setTimeout(60_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(data);
  });
}

function authBody(t) {
  return { auth: { identity: { methods: ['password'], password: { user: { name: t.user, domain: { name: t.userDomain }, password: t.password } } }, scope: { project: { name: t.project, domain: { name: t.projectDomain } } } } };
}

async function token(t) {
  const res = await call(`${t.url}/v3/auth/tokens`, { method: 'POST', body: authBody(t) });
  if (res.status !== 201) throw new Error(`${t.name}: login failed with ${res.status}: ${res.body.toString().slice(0, 200)}`);
  return res.headers['x-subject-token'];
}

/** Closed-loop load: `concurrency` workers send back-to-back requests for DURATION ms. */
async function load(concurrency, request, expect) {
  const latencies = [];
  let errors = 0;
  const end = Date.now() + DURATION;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        const t0 = process.hrtime.bigint();
        try {
          const res = await request();
          if (res.status !== expect) errors++;
        } catch {
          errors++;
        }
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  return { rps: latencies.length / seconds, p50: pct(50), p99: pct(99), n: latencies.length, errors };
}

async function benchTarget(t) {
  const admin = await token(t);
  const subject = await token(t);
  const out = {};
  for (const c of CONCURRENCY) {
    out[`issue c=${c}`] = await load(c, () => call(`${t.url}/v3/auth/tokens`, { method: 'POST', body: authBody(t) }), 201);
    out[`validate c=${c}`] = await load(c, () => call(`${t.url}/v3/auth/tokens`, { headers: { 'x-auth-token': admin, 'x-subject-token': subject } }), 200);
  }
  return out;
}

async function keystone() {
  if (process.env.BENCH_SKIP_KEYSTONE === '1') return { skipped: 'BENCH_SKIP_KEYSTONE=1' };
  let url = process.env.KEYSTONE_URL;
  let password = process.env.KEYSTONE_PASSWORD ?? 'bench-admin-pass';
  if (!url) {
    const candidates = [process.env.KUMO_SHARED_DIR, join(REPO, '..', 'shared'), join(REPO, '..', '..', 'shared'), '/work/shared'].filter(Boolean).map((d) => join(d, 'anchors', 'keystone-up.sh'));
    const script = candidates.find((p) => existsSync(p));
    if (!script) return { skipped: `keystone-up.sh not found (looked in ${candidates.join(', ')}); set KUMO_SHARED_DIR or KEYSTONE_URL` };
    const port = process.env.KS_PORT ?? '15000';
    console.error(`starting real Keystone with ${script} on port ${port} (first run installs Debian's keystone package; takes minutes)...`);
    try {
      // KS_DB=sqlite by default: the PostgreSQL variant raises max_connections and restarts the
      // shared PostgreSQL server, which would break everything else using it.
      const { stdout } = await run('bash', [script], { env: { ...process.env, KS_PORT: port, KS_DB: process.env.KS_DB ?? 'sqlite', KS_ADMIN_PASS: password }, timeout: 1_200_000, maxBuffer: 16 << 20 });
      const exported = Object.fromEntries([...stdout.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
      url = exported.OS_AUTH_URL ?? `http://127.0.0.1:${port}/v3/`;
      password = exported.OS_PASSWORD ?? password;
    } catch (err) {
      return { skipped: `real Keystone could not be installed or started (${String(err.message).split('\n').slice(-3).join(' ')})` };
    }
  }
  return { target: { name: 'Keystone', url: url.replace(/\/v3\/?$/, '').replace(/\/$/, ''), user: 'admin', password, project: 'admin', userDomain: 'Default', projectDomain: 'Default' } };
}

/** TokenVerifier.verify as every service runs it: JWKS fetched once and cached, revocation list checked. */
async function localValidation(subject) {
  const dist = join(REPO, 'packages', 'service-kit', 'dist', 'index.js');
  if (!existsSync(dist)) return { skipped: `build service-kit first (pnpm turbo run build): ${dist} is missing` };
  const kit = await import(pathToFileURL(dist).href);
  const list = new kit.RevocationList();
  const verifier = new kit.TokenVerifier(kit.remoteKeys(kumo.url), process.env.KUMO_TOKEN_ISSUER ?? 'kumo', { check: (a) => list.check(a) });
  for (let i = 0; i < 2000; i++) await verifier.verify(subject);
  const n = 20000;
  const samples = new Float64Array(n);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const s = process.hrtime.bigint();
    await verifier.verify(subject);
    samples[i] = Number(process.hrtime.bigint() - s) / 1000;
  }
  const mean = Number(process.hrtime.bigint() - t0) / 1000 / n;
  samples.sort();
  return { n, mean, p50: samples[Math.floor(n / 2)], p99: samples[Math.floor(n * 0.99)] };
}

const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

const results = { Kumo: await benchTarget(kumo) };
const ks = await keystone();
if (ks.target) {
  try {
    results.Keystone = await benchTarget(ks.target);
  } catch (err) {
    ks.skipped = `Keystone did not answer the benchmark: ${err.message}`;
  }
}
const local = await localValidation(await token(kumo));

console.log(`\n### Identity benchmark (${new Date().toISOString()}, ${DURATION / 1000} s per run, closed loop, keep-alive)\n`);
console.log(`Kumo: ${kumo.url}${results.Keystone ? ` · Keystone: ${ks.target.url}` : ''}\n`);
console.log('| test | Kumo req/s | Kumo p50 ms | Kumo p99 ms | Keystone req/s | Keystone p50 ms | Keystone p99 ms | Kumo/Keystone req/s |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const [test, k] of Object.entries(results.Kumo)) {
  const b = results.Keystone?.[test];
  const err = (r) => (r.errors ? ` (${r.errors} errors)` : '');
  console.log(`| ${test} | ${f(k.rps)}${err(k)} | ${f(k.p50, 2)} | ${f(k.p99, 2)} | ${b ? f(b.rps) + err(b) : '—'} | ${b ? f(b.p50, 2) : '—'} | ${b ? f(b.p99, 2) : '—'} | ${b ? `${f(k.rps / b.rps)}×` : '—'} |`);
}
if (!results.Keystone) console.log(`\nKeystone baseline skipped: ${ks.skipped}`);
if (local.skipped) console.log(`\nLocal validation skipped: ${local.skipped}`);
else console.log(`\nLocal token validation (TokenVerifier.verify, cached JWKS, in-process): mean ${f(local.mean)} µs, p50 ${f(local.p50)} µs, p99 ${f(local.p99)} µs over ${local.n} calls.`);
agent.destroy();
