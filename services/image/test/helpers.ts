import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { createTestDatabase, createTestVhost, startTestService, type TestDatabase, TestIdentity, type TestService, type TestVhost } from '@kumo/service-kit/testing';
import { imageService } from '../src/service.js';

export interface Project {
  id: string;
  token: string;
}

/** One image service on a fresh database, vhost and store directory, plus tokens for three projects and an admin. */
export interface ImageEnv {
  svc: TestService;
  url: string;
  db: TestDatabase;
  vhost: TestVhost;
  identity: TestIdentity;
  storeDir: string;
  a: Project;
  b: Project;
  c: Project;
  admin: Project;
  /** a reader-only user of project a */
  readerA: Project;
  close(): Promise<void>;
}

export async function startImageEnv(env: Record<string, string> = {}): Promise<ImageEnv> {
  const [db, vhost, identity] = await Promise.all([createTestDatabase('kumo_image_test'), createTestVhost('kumo-image-test'), TestIdentity.start()]);
  const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-image-test-'));
  const svc = await startTestService(imageService, {
    databaseUrl: db.url,
    amqpUrl: vhost.url,
    env: { KUMO_IDENTITY_URL: identity.url, KUMO_IMAGE_STORE_DIR: storeDir, KUMO_IMAGE_URL: 'http://127.0.0.1:9', ...env },
  });
  const project = async (id: string, roles = ['member', 'reader']): Promise<Project> => ({ id, token: await identity.token({ projectId: id, userId: `user-${id}`, roles }) });
  const suffix = Math.random().toString(16).slice(2, 10);
  const a = await project(`proja${suffix}`);
  return {
    svc,
    url: svc.url,
    db,
    vhost,
    identity,
    storeDir,
    a,
    b: await project(`projb${suffix}`),
    c: await project(`projc${suffix}`),
    admin: await project(`admin${suffix}`, ['admin', 'member', 'reader']),
    readerA: { id: a.id, token: await identity.token({ projectId: a.id, userId: `reader-${a.id}`, roles: ['reader'] }) },
    async close() {
      await svc.close();
      await Promise.all([db.drop(), vhost.delete(), identity.close()]);
      fs.rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

export interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** A raw HTTP request (node:http, so chunked bodies, streams and odd headers are possible). */
export function request(
  base: string,
  method: string,
  url: string,
  opts: { token?: string; json?: unknown; body?: Buffer | string | Readable; headers?: Record<string, string>; contentType?: string } = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.token) headers['x-auth-token'] = opts.token;
    let payload: Buffer | string | Readable | undefined = opts.body;
    if (opts.json !== undefined) {
      payload = JSON.stringify(opts.json);
      headers['content-type'] = opts.contentType ?? 'application/json';
    } else if (opts.contentType) headers['content-type'] = opts.contentType;
    if (typeof payload === 'string' || Buffer.isBuffer(payload)) headers['content-length'] ??= String(Buffer.byteLength(payload));
    const req = http.request(new URL(url, base), { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        let json: unknown;
        try {
          json = body.length ? JSON.parse(body.toString('utf8')) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
      });
    });
    req.on('error', reject);
    if (payload && typeof payload !== 'string' && !Buffer.isBuffer(payload)) {
      payload.pipe(req);
    } else {
      req.end(payload);
    }
  });
}

export const PATCH_21 = 'application/openstack-images-v2.1-json-patch';
export const PATCH_20 = 'application/openstack-images-v2.0-json-patch';

/** Small helpers bound to one environment. */
export function client(env: ImageEnv) {
  const r = (method: string, url: string, who: Project, opts: Parameters<typeof request>[3] = {}) => request(env.url, method, url, { token: who.token, ...opts });
  return {
    r,
    create: async (who: Project, body: Record<string, unknown> = {}) => {
      const res = await r('POST', '/v2/images', who, { json: { disk_format: 'raw', container_format: 'bare', ...body } });
      if (res.status !== 201) throw new Error(`create failed: ${res.status} ${res.body.toString()}`);
      return res.json as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    },
    upload: (who: Project, id: string, data: Buffer | Readable, headers: Record<string, string> = {}) =>
      r('PUT', `/v2/images/${id}/file`, who, { body: data, contentType: 'application/octet-stream', headers }),
    show: (who: Project, id: string) => r('GET', `/v2/images/${id}`, who),
    list: (who: Project, query = '') => r('GET', `/v2/images${query}`, who),
    patch: (who: Project, id: string, ops: unknown, type = PATCH_21) => r('PATCH', `/v2/images/${id}`, who, { json: ops, contentType: type }),
    del: (who: Project, id: string) => r('DELETE', `/v2/images/${id}`, who),
    download: (who: Project, id: string, headers: Record<string, string> = {}) => r('GET', `/v2/images/${id}/file`, who, { headers }),
  };
}

/** Files in the store directory (data and staging), to prove nothing stray is left. */
export function storeFiles(storeDir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.name === '.run') continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(path.relative(storeDir, p));
    }
  };
  walk(storeDir);
  return out.sort();
}
