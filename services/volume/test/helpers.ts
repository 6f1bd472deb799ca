import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CONTRACT_VERSION, type Envelope } from '@kumo/contracts';
import { createTestDatabase, createTestVhost, startTestService, type TestDatabase, TestIdentity, type TestService, type TestVhost } from '@kumo/service-kit/testing';
import amqp from 'amqplib';
import { volumeService } from '../src/service.js';

export interface Project {
  id: string;
  token: string;
}

/** One volume service on a fresh database, vhost and volume directory, with tokens for two projects, a reader and an admin. */
export interface VolumeEnv {
  svc: TestService;
  url: string;
  db: TestDatabase;
  vhost: TestVhost;
  identity: TestIdentity;
  dir: string;
  a: Project;
  b: Project;
  admin: Project;
  readerA: Project;
  close(): Promise<void>;
}

export async function startVolumeEnv(env: Record<string, string> = {}): Promise<VolumeEnv> {
  const [db, vhost, identity] = await Promise.all([createTestDatabase('kumo_volume_test'), createTestVhost('kumo-volume-test'), TestIdentity.start()]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-volume-test-'));
  const svc = await startTestService(volumeService, { databaseUrl: db.url, amqpUrl: vhost.url, env: { KUMO_IDENTITY_URL: identity.url, KUMO_VOLUME_DIR: dir, ...env } });
  const suffix = Math.random().toString(16).slice(2, 10);
  const project = async (id: string, roles = ['member', 'reader']): Promise<Project> => ({ id, token: await identity.token({ projectId: id, userId: `user-${id}`, roles }) });
  const a = await project(`proja${suffix}`);
  return {
    svc,
    url: svc.url,
    db,
    vhost,
    identity,
    dir,
    a,
    b: await project(`projb${suffix}`),
    admin: await project(`admin${suffix}`, ['admin', 'member', 'reader']),
    readerA: { id: a.id, token: await identity.token({ projectId: a.id, userId: `reader-${a.id}`, roles: ['reader'] }) },
    async close() {
      await svc.close();
      await Promise.all([db.drop(), vhost.delete(), identity.close()]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Res {
  status: number;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export async function call(env: VolumeEnv, who: Project, method: string, url: string, body?: unknown): Promise<Res> {
  const res = await fetch(new URL(url, env.url), {
    method,
    headers: { 'x-auth-token': who.token, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

/**
 * A stand-in for the image service on the test vhost: answers `image.get_location` from a table
 * (the volume service's only use of it). Handlers that throw `{code, message}` answer an RPC error.
 */
export class FakeImageService {
  private constructor(private readonly conn: amqp.ChannelModel) {}

  static async start(amqpUrl: string, handlers: Record<string, (data: any) => unknown>): Promise<FakeImageService> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const conn = await amqp.connect(amqpUrl);
    const ch = await conn.createChannel();
    await ch.assertQueue('kumo.image', { durable: true });
    await ch.consume('kumo.image', (msg) => {
      if (!msg) return;
      const env = JSON.parse(msg.content.toString()) as Envelope;
      let reply: unknown;
      try {
        const h = handlers[env.pattern.slice('image.'.length)];
        if (!h) throw { code: 'unknown_method', message: `no ${env.pattern}` };
        reply = { v: CONTRACT_VERSION, ok: true, data: h(env.data) };
      } catch (err) {
        const e = err as { code?: string; message?: string };
        reply = { v: CONTRACT_VERSION, ok: false, error: { code: e.code ?? 'internal', message: e.message ?? String(err), service: 'image' } };
      }
      if (msg.properties.replyTo) ch.sendToQueue(msg.properties.replyTo as string, Buffer.from(JSON.stringify(reply)), { correlationId: msg.properties.correlationId as string });
      ch.ack(msg);
    });
    return new FakeImageService(conn);
  }

  async close(): Promise<void> {
    await this.conn.close().catch(() => undefined);
  }
}
