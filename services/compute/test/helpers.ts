import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { FakeDriver } from '@kumo/hypervisor';
import { createTestDatabase, createTestVhost, startTestService, type TestDatabase, TestIdentity, type TestService, type TestVhost, waitUntil } from '@kumo/service-kit/testing';
import { ComputeAgent, type AgentHostOptions } from '../src/agent/agent.js';
import { computeService } from '../src/service.js';
import { startFakeImage } from './peers.js';

export interface Project {
  id: string;
  userId: string;
  token: string;
}

export interface ComputeEnv {
  svc: TestService;
  url: string;
  db: TestDatabase;
  vhost: TestVhost;
  identity: TestIdentity;
  image: Awaited<ReturnType<typeof startFakeImage>>;
  agent?: ComputeAgent;
  drivers: Map<string, FakeDriver>;
  a: Project;
  b: Project;
  admin: Project;
  readerA: Project;
  /** Stops the in-process agent and starts a new one on the same drivers (an agent restart; its first reports say `startup`). */
  restartAgent(): Promise<ComputeAgent>;
  close(): Promise<void>;
}

export interface EnvOptions {
  /** Fake hosts served by one in-process agent (none: no agent). */
  hosts?: string[];
  capacity?: Partial<Omit<AgentHostOptions, 'host' | 'driver'>>;
  env?: Record<string, string>;
  driverFor?: (host: string) => FakeDriver;
  /** Run the agent's noVNC proxy (on a free port of 127.0.0.1). */
  consoleProxy?: boolean;
  /**
   * Started after the identity stand-in and before compute (e.g. the network service); returns more
   * env for compute. `amqpUrl` is compute's own vhost, for a peer that must share its broker (RPCs, events).
   */
  peers?: (identityUrl: string, amqpUrl: string) => Promise<Record<string, string>>;
}

export async function startComputeEnv(opts: EnvOptions = {}): Promise<ComputeEnv> {
  const [db, vhost, identity] = await Promise.all([createTestDatabase('kumo_compute_test'), createTestVhost('kumo-compute-test'), TestIdentity.start()]);
  const suffix = Math.random().toString(16).slice(2, 10);
  const project = async (id: string, roles = ['member', 'reader'], userId = `user-${id}`): Promise<Project> => ({ id, userId, token: await identity.token({ projectId: id, userId, roles }) });
  const a = await project(`proja${suffix}`);
  const image = await startFakeImage(vhost.url, a.id);
  const peerEnv = opts.peers ? await opts.peers(identity.url, vhost.url) : {};
  const svc = await startTestService(computeService, {
    databaseUrl: db.url,
    amqpUrl: vhost.url,
    env: { KUMO_IDENTITY_URL: identity.url, KUMO_COMPUTE_RECONCILE_S: '1', KUMO_COMPUTE_HOST_DOWN_S: '30', ...peerEnv, ...opts.env },
  });
  const drivers = new Map<string, FakeDriver>();
  let agent: ComputeAgent | undefined;
  const makeAgent = () =>
    new ComputeAgent({
      amqpUrl: vhost.url,
      reportIntervalMs: 1000,
      instancesDir: os.tmpdir(),
      snapshotDir: path.join(os.tmpdir(), `kumo-compute-snapshots-${suffix}`),
      console: opts.consoleProxy ? { listen: '127.0.0.1:0' } : undefined,
      hosts: (opts.hosts ?? []).map((host) => {
        const driver = drivers.get(host) ?? opts.driverFor?.(host) ?? new FakeDriver({ host, checkFiles: false });
        drivers.set(host, driver);
        return { host, driver, vcpus: 16, memoryMb: 32768, localGb: 500, ...opts.capacity };
      }),
    });
  if (opts.hosts?.length) {
    agent = makeAgent();
    await agent.start();
    const hostCount = opts.hosts.length;
    await waitUntil('agent hosts registered', async () => {
      const r = await request(svc.url, 'GET', '/v2.1/os-hypervisors', { token: await identity.token({ projectId: 'adm', roles: ['admin', 'member', 'reader'] }) });
      return r.json?.hypervisors?.length === hostCount;
    });
  }
  return {
    svc,
    url: svc.url,
    db,
    vhost,
    identity,
    image,
    agent,
    drivers,
    a,
    b: await project(`projb${suffix}`),
    admin: await project(`admin${suffix}`, ['admin', 'member', 'reader']),
    readerA: await project(a.id, ['reader'], `reader-${a.id}`),
    async restartAgent() {
      await agent?.close();
      agent = makeAgent();
      await agent.start();
      return agent;
    },
    async close() {
      await agent?.close();
      await svc.close();
      await image.peer.close();
      await Promise.all([db.drop(), vhost.delete(), identity.close()]);
    },
  };
}

export interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
}

const agentPool = new http.Agent({ keepAlive: true, maxSockets: 64 });

export function request(base: string, method: string, url: string, opts: { token?: string; json?: unknown; body?: string; headers?: Record<string, string> } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.token) headers['x-auth-token'] = opts.token;
    let payload: string | undefined = opts.body;
    if (opts.json !== undefined) {
      payload = JSON.stringify(opts.json);
      headers['content-type'] = 'application/json';
    }
    if (payload !== undefined) headers['content-length'] = String(Buffer.byteLength(payload));
    const req = http.request(new URL(url, base), { method, headers, agent: agentPool }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, json, text });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Helpers bound to one environment. */
export function client(env: ComputeEnv) {
  const r = (method: string, url: string, who: Project, opts: Parameters<typeof request>[3] = {}) => request(env.url, method, `/v2.1${url}`, { token: who.token, ...opts });
  const boot = async (who: Project, server: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
    r('POST', '/servers', who, { json: { server: { name: 'vm', imageRef: env.image.publicId, flavorRef: '1', networks: 'none', ...server }, ...extra } });
  const show = (who: Project, id: string) => r('GET', `/servers/${id}`, who);
  const waitStatus = async (who: Project, id: string, status: string | string[], timeoutMs = 20000) => {
    const want = Array.isArray(status) ? status : [status];
    return waitUntil(`server ${id} ${want.join('|')}`, async () => {
      const s = await show(who, id);
      if (s.status === 404 && want.includes('DELETED')) return { status: 'DELETED' };
      return s.json?.server && want.includes(s.json.server.status) && !s.json.server['OS-EXT-STS:task_state'] ? s.json.server : undefined;
    }, { timeoutMs, intervalMs: 50 });
  };
  const action = (who: Project, id: string, body: unknown) => r('POST', `/servers/${id}/action`, who, { json: body });
  const bootActive = async (who: Project, server: Record<string, unknown> = {}) => {
    const res = await boot(who, server);
    if (res.status !== 202) throw new Error(`boot failed: ${res.status} ${res.text}`);
    return waitStatus(who, res.json.server.id, 'ACTIVE');
  };
  return { r, boot, show, waitStatus, action, bootActive };
}

/**
 * Compute with the REAL network service (services/network) in-process: its own database, compute's
 * vhost and the same identity stand-in, so compute calls its RPCs and REST API (KUMO_NETWORK_URL)
 * and consumes its events as in a deployment. `close` stops both and drops the network database.
 */
export async function startComputeWithNetwork(opts: Omit<EnvOptions, 'peers'>): Promise<{ env: ComputeEnv; network: TestService; close(): Promise<void> }> {
  // A path in a variable: the network service's sources stay out of compute's TypeScript program.
  const networkModule = '../../network/src/service.js';
  const { networkService } = (await import(networkModule)) as { networkService: import('@kumo/service-kit').ServiceDefinition };
  let net: { svc: TestService; db: TestDatabase } | undefined;
  const env = await startComputeEnv({
    ...opts,
    peers: async (identityUrl, amqpUrl) => {
      const db = await createTestDatabase('kumo_network_test');
      const svc = await startTestService(networkService, { databaseUrl: db.url, amqpUrl, env: { KUMO_IDENTITY_URL: identityUrl } });
      net = { svc, db };
      return { KUMO_NETWORK_URL: svc.url };
    },
  });
  return {
    env,
    network: net!.svc,
    close: async () => {
      await net?.svc.close();
      await env.close();
      await net?.db.drop();
    },
  };
}

/**
 * Compute with the real volume service (services/volume) in-process, on its own database and
 * volume directory but on compute's vhost (compute calls its RPCs), its Cinder REST API in
 * KUMO_VOLUME_URL (Nova's os-volumes proxy). Files are made by the real qemu-img.
 */
export async function startComputeWithVolume(
  opts: Omit<EnvOptions, 'peers'>,
  volumeEnv: Record<string, string> = {},
): Promise<{ env: ComputeEnv; volume: TestService; dir: string; close(): Promise<void> }> {
  const volumeModule = '../../volume/src/service.js';
  const { volumeService } = (await import(volumeModule)) as { volumeService: import('@kumo/service-kit').ServiceDefinition };
  let vol: { svc: TestService; db: TestDatabase; dir: string } | undefined;
  const env = await startComputeEnv({
    ...opts,
    peers: async (identityUrl, amqpUrl) => {
      const db = await createTestDatabase('kumo_volume_test');
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-compute-volumes-'));
      const svc = await startTestService(volumeService, { databaseUrl: db.url, amqpUrl, env: { KUMO_IDENTITY_URL: identityUrl, KUMO_VOLUME_DIR: dir, ...volumeEnv } });
      vol = { svc, db, dir };
      return { KUMO_VOLUME_URL: svc.url };
    },
  });
  return {
    env,
    volume: vol!.svc,
    dir: vol!.dir,
    close: async () => {
      await env.close();
      if (vol) {
        await vol.svc.close();
        await vol.db.drop();
        fs.rmSync(vol.dir, { recursive: true, force: true });
      }
    },
  };
}

/** A Neutron API call as `who` against the in-process network service; a status ≥ 300 throws. */
export function neutronClient(url: string) {
  return async (who: Project, method: string, path: string, json?: unknown) => {
    const res = await request(url, method, path, { token: who.token, json });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
    return res.json;
  };
}
