import http from 'node:http';
import { createTestDatabase, createTestVhost, startTestService, type TestDatabase, TestIdentity, type TestService, type TestVhost } from '@kumo/service-kit/testing';
import { networkService } from '../src/service.js';

export interface Project {
  id: string;
  token: string;
}

/** One network service on a fresh database and vhost, plus tokens for two projects, a reader and an admin. */
export interface NetEnv {
  svc: TestService;
  url: string;
  db: TestDatabase;
  vhost: TestVhost;
  identity: TestIdentity;
  a: Project;
  b: Project;
  admin: Project;
  readerA: Project;
  close(): Promise<void>;
}

export async function startNetEnv(env: Record<string, string> = {}): Promise<NetEnv> {
  const [db, vhost, identity] = await Promise.all([createTestDatabase('kumo_network_test'), createTestVhost('kumo-network-test'), TestIdentity.start()]);
  const svc = await startTestService(networkService, { databaseUrl: db.url, amqpUrl: vhost.url, env: { KUMO_IDENTITY_URL: identity.url, ...env } });
  const suffix = Math.random().toString(16).slice(2, 10);
  const project = async (id: string, roles = ['member', 'reader']): Promise<Project> => ({ id, token: await identity.token({ projectId: id, userId: `user-${id}`, roles }) });
  const a = await project(`proja${suffix}`);
  return {
    svc,
    url: svc.url,
    db,
    vhost,
    identity,
    a,
    b: await project(`projb${suffix}`),
    admin: await project(`admin${suffix}`, ['admin', 'member', 'reader']),
    readerA: { id: a.id, token: await identity.token({ projectId: a.id, userId: `reader-${a.id}`, roles: ['reader'] }) },
    async close() {
      await svc.close();
      await Promise.all([db.drop(), vhost.delete(), identity.close()]);
    },
  };
}

export interface Res {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
  text: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

export function request(base: string, method: string, url: string, token?: string, json?: unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (token) headers['x-auth-token'] = token;
    const payload = json === undefined ? undefined : JSON.stringify(json);
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const req = http.request(new URL(url, base), { method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, json: body, text });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Request helpers bound to one environment; `ok` helpers throw unless the status is the expected one. */
export function client(env: NetEnv) {
  const r = (method: string, url: string, who: Project, json?: unknown) => request(env.url, method, url, who.token, json);
  const expectStatus = async (p: Promise<Res>, status: number) => {
    const res = await p;
    if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${res.text}`);
    return res.json;
  };
  return {
    r,
    get: (who: Project, url: string) => r('GET', url, who),
    post: (who: Project, url: string, body: unknown) => r('POST', url, who, body),
    put: (who: Project, url: string, body: unknown) => r('PUT', url, who, body),
    del: (who: Project, url: string) => r('DELETE', url, who),
    network: async (who: Project, body: Record<string, unknown> = {}) => (await expectStatus(r('POST', '/v2.0/networks', who, { network: { name: 'net', ...body } }), 201)).network,
    subnet: async (who: Project, networkId: string, cidr: string, body: Record<string, unknown> = {}) =>
      (await expectStatus(r('POST', '/v2.0/subnets', who, { subnet: { network_id: networkId, cidr, ip_version: cidr.includes(':') ? 6 : 4, ...body } }), 201)).subnet,
    port: async (who: Project, networkId: string, body: Record<string, unknown> = {}) => (await expectStatus(r('POST', '/v2.0/ports', who, { port: { network_id: networkId, ...body } }), 201)).port,
    router: async (who: Project, body: Record<string, unknown> = {}) => (await expectStatus(r('POST', '/v2.0/routers', who, { router: { name: 'r', ...body } }), 201)).router,
    expectStatus,
  };
}

/** An external network with an IPv4 subnet, made by the admin (what `./kumo up` gives a cloud). */
export async function externalNetwork(env: NetEnv, cidr = '172.24.4.0/24') {
  const c = client(env);
  const net = await c.network(env.admin, { name: 'public', 'router:external': true, 'provider:network_type': 'flat', 'provider:physical_network': `public-${Math.random().toString(16).slice(2, 8)}` });
  const subnet = await c.subnet(env.admin, net.id, cidr, { name: 'public-subnet', enable_dhcp: false });
  return { net, subnet };
}
