import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CONTRACT_VERSION, type Envelope, type ImageRecord } from '@kumo/contracts';
import amqp from 'amqplib';

type Handler = (data: any) => unknown; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * A small stand-in for another Kumo service on a real broker: consumes `kumo.<service>` and
 * answers RPCs from a table of handlers (a handler that throws `{code, message}` answers an RPC
 * error). Used for the image service (and network, when a test wants ports), which run in their
 * own processes in production.
 */
export class FakePeer {
  readonly calls: { pattern: string; data: unknown }[] = [];
  private constructor(private readonly conn: amqp.ChannelModel) {}

  static async start(amqpUrl: string, service: string, handlers: Record<string, Handler>): Promise<FakePeer> {
    const conn = await amqp.connect(amqpUrl);
    const peer = new FakePeer(conn);
    const ch = await conn.createChannel();
    const queue = `kumo.${service}`;
    await ch.assertQueue(queue, { durable: true });
    await ch.consume(queue, (msg) => {
      if (!msg) return;
      const env = JSON.parse(msg.content.toString()) as Envelope;
      peer.calls.push({ pattern: env.pattern, data: env.data });
      const method = env.pattern.slice(service.length + 1);
      let reply: unknown;
      try {
        const h = handlers[method];
        if (!h) throw { code: 'unknown_method', message: `no ${env.pattern}` };
        reply = { v: CONTRACT_VERSION, ok: true, data: h(env.data) };
      } catch (err) {
        const e = err as { code?: string; message?: string };
        reply = { v: CONTRACT_VERSION, ok: false, error: { code: e.code ?? 'internal', message: e.message ?? String(err), service } };
      }
      if (msg.properties.replyTo) ch.sendToQueue(msg.properties.replyTo as string, Buffer.from(JSON.stringify(reply)), { correlationId: msg.properties.correlationId as string });
      ch.ack(msg);
    });
    return peer;
  }

  async close(): Promise<void> {
    await this.conn.close().catch(() => undefined);
  }
}

export function imageRecord(id: string, over: Partial<ImageRecord> = {}): ImageRecord {
  const now = new Date().toISOString();
  return {
    id,
    name: 'cirros',
    status: 'active',
    visibility: 'public',
    owner: null,
    diskFormat: 'qcow2',
    containerFormat: 'bare',
    size: 1024,
    virtualSize: 1024 * 1024,
    checksum: 'abc',
    osHashAlgo: 'sha512',
    osHashValue: 'def',
    minDisk: 0,
    minRam: 0,
    protected: false,
    properties: {},
    tags: [],
    createdAt: now,
    updatedAt: now,
    ...over,
  };
}

/** The image service as compute sees it: a few public images, one private to `privateOwner`. */
export async function startFakeImage(amqpUrl: string, privateOwner = 'nobody') {
  const images = new Map<string, ImageRecord>();
  const publicId = randomUUID();
  const privateId = randomUUID();
  const queuedId = randomUUID();
  const bigId = randomUUID();
  images.set(publicId, imageRecord(publicId));
  images.set(privateId, imageRecord(privateId, { visibility: 'private', owner: privateOwner, name: 'private' }));
  images.set(queuedId, imageRecord(queuedId, { status: 'queued', name: 'queued' }));
  images.set(bigId, imageRecord(bigId, { minRam: 100000, name: 'big' }));
  // The public image has data on disk, like the file store's: agents snapshot FakeDriver domains by copying it.
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-compute-images-'));
  fs.writeFileSync(path.join(dataDir, publicId), 'fake image data');
  const pathOf = (id: string) => path.join(dataDir, id);
  const imported: { imageId: string; content: string }[] = [];
  const deleted: string[] = [];
  const visible = (req: { imageId: string; asProject?: string; asAdmin?: boolean }) => {
    const img = images.get(req.imageId);
    if (!img || (img.visibility === 'private' && img.owner !== req.asProject && !req.asAdmin)) throw { code: 'not_found', message: `Image ${req.imageId} not found` };
    return img;
  };
  const peer = await FakePeer.start(amqpUrl, 'image', {
    get: (req) => visible(req),
    get_location: (req) => ({ image: visible(req), store: 'file', path: pathOf(req.imageId), url: `http://127.0.0.1:9292/v2/images/${req.imageId}/file` }),
    create: (req) => {
      const id = req.id ?? randomUUID();
      const img = imageRecord(id, { name: req.name, owner: req.owner, status: 'queued', visibility: 'private', properties: req.properties ?? {}, minRam: req.minRam ?? 0, minDisk: req.minDisk ?? 0 });
      images.set(id, img);
      return img;
    },
    import_file: (req: { imageId: string; path: string; removeSource?: boolean }) => {
      const img = images.get(req.imageId);
      if (!img) throw { code: 'not_found', message: `No image found with ID ${req.imageId}` };
      imported.push({ imageId: req.imageId, content: fs.readFileSync(req.path, 'utf8') });
      if (req.removeSource) fs.rmSync(req.path);
      img.status = 'active';
      return img;
    },
    delete: (req: { imageId: string; asProject?: string }) => {
      const img = images.get(req.imageId);
      if (!img || (req.asProject !== undefined && img.owner !== req.asProject)) throw { code: 'not_found', message: `No image found with ID ${req.imageId}` };
      images.delete(req.imageId);
      deleted.push(req.imageId);
      return { deleted: true };
    },
    // Oldest first: the Map keeps creation order.
    list: (req: { owner: string; properties: Record<string, string> }) => ({
      images: [...images.values()].filter((img) => img.owner === req.owner && Object.entries(req.properties).every(([k, v]) => img.properties[k] === v)),
    }),
  });
  return { peer, images, imported, deleted, publicId, privateId, queuedId, bigId, dataDir };
}
