import { randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { RpcError } from '@kumo/contracts';
import { ApiError, type AuthContext, KUMO_CONFIG, PolicyService } from '@kumo/service-kit';
import { importDirsOf, type ImageConfig } from '../config.js';
import { ImageRepository, type ImageTask } from '../db/image.repository.js';
import { EVENT_KICKER, type EventKicker } from '../events/event-kicker.js';
import { HAS_DATA, type Image, type ImageStatus } from '../images/image.model.js';
import { toRecord } from '../images/image.view.js';
import { ImagesService, notFound } from '../images/images.service.js';
import { ImageRefusal, InspectionUnavailable, Inspector } from '../inspection/inspector.js';
import { QuotaService } from '../quota/quota.service.js';
import { IMAGE_STORE, type ImageStore } from '../store/image-store.js';
import { LocalFiles } from '../store/local-files.js';
import { StagingArea } from '../store/staging.js';
import { HASHER, type Hasher } from './hashing.js';
import { Meter } from './meter.js';
import { type ByteRange, parseRange } from './range.js';

/** What `GET /file` answers: nothing (204) or a byte stream. */
export type Download =
  | { kind: 'empty' }
  | { kind: 'data'; size: number; range?: ByteRange; checksum: string | null; writeTo: (dest: Writable) => Promise<void> };

interface Received {
  file: string;
  size: number;
  checksum: string;
  osHashValue: string;
}

/** Errors the HTTP layer may not be able to deliver (the client is gone); still typed for logs and tests. */
export class UploadInterrupted extends ApiError {
  constructor(imageId: string, bytes: number, why: string) {
    super(400, `The upload of image ${imageId} was interrupted after ${bytes} byte(s) (${why}); nothing was stored and the image is still queued: upload it again.`);
  }
}

export const IMPORT_METHODS = ['glance-direct'] as const;

/**
 * Image data: upload (`PUT /file`), glance-direct (`PUT /stage` + `POST /import`), download
 * (`GET /file`, with Range), and local-file import for other services and seeding.
 *
 * An upload, step by step:
 *   1. claim: queued -> saving, compare-and-set with this process as `upload_owner`
 *      (a second upload, or one to a deleted image, loses here: 409 / 404);
 *   2. stream into a staging `.part` file through Meter (md5 + sha512 + byte count; stops at
 *      the size cap or the project's remaining storage quota), fsync; never held in memory;
 *   3. inspect (Inspector: real format = disk_format, no external references, virtual size
 *      bound, qcow2 check) — a refusal kills the image;
 *   4. move into the store (a rename for the file store), then one transaction re-checks the
 *      quota under the project's lock and sets saving -> active (+ image.active event).
 * Any failure before 4 commits removes the staging file and puts the image back to queued
 * (killed for a refusal): no partial data is ever visible, and nothing stray stays on disk.
 * A process that dies mid-upload leaves `saving` + a `.part` file; Recovery repairs both.
 */
@Injectable()
export class ImageDataService implements OnApplicationShutdown {
  private readonly log = new Logger('image-data');
  private readonly background = new Set<Promise<void>>();

  constructor(
    private readonly images: ImageRepository,
    private readonly imagesService: ImagesService,
    private readonly policy: PolicyService,
    private readonly quota: QuotaService,
    private readonly staging: StagingArea,
    private readonly inspector: Inspector,
    private readonly files: LocalFiles,
    @Inject(IMAGE_STORE) private readonly store: ImageStore,
    @Inject(EVENT_KICKER) private readonly events: EventKicker,
    @Inject(KUMO_CONFIG) private readonly config: ImageConfig,
    @Inject(HASHER) private readonly hasher: Hasher,
  ) {}

  async onApplicationShutdown() {
    await this.idle();
    await this.hasher.stop();
  }

  /** Resolves when background imports have finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.background.size) await Promise.allSettled([...this.background]);
  }

  // ------------------------------------------------------------------ upload

  async upload(auth: AuthContext, id: string, source: Readable, declaredLength: number | undefined, requestId?: string): Promise<Image> {
    const image = await this.imagesService.findVisible(auth, id);
    this.policy.enforce('upload_image', auth, { project_id: image.owner ?? '' });
    return this.receive(image, source, declaredLength, requestId);
  }

  /** claim -> write -> inspect -> store -> active; see the class comment. */
  async receive(image: Image, source: Readable, declaredLength: number | undefined, requestId?: string): Promise<Image> {
    this.requireFormats(image);
    this.checkDeclaredSize(declaredLength);
    const claimed = await this.claim(image, ['queued'], 'saving');
    try {
      const t0 = process.hrtime.bigint();
      const received = await this.write(claimed, source, declaredLength);
      const t1 = process.hrtime.bigint();
      const active = await this.commit(claimed, received, 'saving', requestId);
      const t2 = process.hrtime.bigint();
      const ms = (a: bigint, b: bigint) => (Number(b - a) / 1e6).toFixed(0);
      this.log.log(`image ${image.id}: ${received.size} bytes stored in ${ms(t0, t2)} ms (receive+hash+fsync ${ms(t0, t1)} ms, inspect+commit ${ms(t1, t2)} ms)`);
      return active;
    } catch (err) {
      if (!(err instanceof ImageRefusal)) await this.release(claimed, 'saving', 'queued');
      throw this.outward(claimed, err);
    }
  }

  private requireFormats(image: Image) {
    if (!image.diskFormat || !image.containerFormat) {
      throw ApiError.badRequest(`Properties disk_format, container_format must be set prior to saving data (image ${image.id}).`);
    }
  }

  private checkDeclaredSize(declared: number | undefined) {
    if (declared !== undefined && declared > this.config.KUMO_IMAGE_MAX_SIZE) {
      throw ApiError.tooLarge(`Image data of ${declared} bytes exceeds this cloud's maximum image size of ${this.config.KUMO_IMAGE_MAX_SIZE} bytes.`);
    }
  }

  private async claim(image: Image, from: ImageStatus[], to: ImageStatus): Promise<Image> {
    const row = await this.images.update(this.images.db, image.id, { status: to, upload_owner: this.staging.owner, upload_started_at: new Date() }, { status: from });
    if (row) return row;
    const now = await this.images.get(image.id);
    if (!now || now.status === 'deleted') throw notFound(image.id);
    if (HAS_DATA.includes(now.status)) throw ApiError.conflict(`Image ${image.id} already has data (status ${now.status}): image data can be uploaded only once. Create a new image for other data.`);
    if (now.status === 'killed') throw ApiError.conflict(`Image ${image.id} is killed (its data was refused): it cannot take data any more. Delete it and create a new image.`);
    if (['saving', 'uploading', 'importing'].includes(now.status) && to !== 'importing') throw ApiError.conflict(`Image ${image.id} is ${now.status}: another upload of its data is in progress.`);
    throw ApiError.conflict(`Image ${image.id} is ${now.status}: this needs an image in status ${from.join(' or ')}.`);
  }

  /** Puts a claimed image back (e.g. saving -> queued) if this process still owns it. */
  private async release(image: Image, from: ImageStatus, to: ImageStatus, extra: { staged?: null } = {}) {
    await this.images
      .update(this.images.db, image.id, { status: to, upload_owner: null, upload_started_at: null, ...extra }, { status: [from], uploadOwner: this.staging.owner })
      .catch((err: Error) => this.log.error(`could not put image ${image.id} back to ${to}: ${err.message}; Recovery will at the next start`));
  }

  private async write(image: Image, source: Readable, declaredLength: number | undefined): Promise<Received> {
    const maxSize = this.config.KUMO_IMAGE_MAX_SIZE;
    const q = await this.quota.remainingBytes(this.images.db, image.owner, image.id);
    if (declaredLength !== undefined && declaredLength > q.remaining) throw this.quota.storageExceeded(image.owner!, declaredLength, q);
    const meter = new Meter(Math.min(maxSize, q.remaining), (bytes) =>
      bytes > maxSize ? ApiError.tooLarge(`Image data exceeds this cloud's maximum image size of ${maxSize} bytes; the upload was stopped and nothing was stored.`) : this.quota.storageExceeded(image.owner!, bytes, q),
      this.hasher.session(declaredLength),
    );
    const file = this.staging.partPath(image.id);
    try {
      await pipeline(source, meter, this.staging.createWriter(file, this.config.KUMO_IMAGE_FSYNC));
    } catch (err) {
      await this.staging.remove(file);
      throw this.streamError(image, err, meter.bytes);
    }
    if (meter.bytes === 0) {
      await this.staging.remove(file);
      throw ApiError.badRequest(`Image data is empty: an image needs at least one byte of data. Nothing was stored; image ${image.id} is still queued.`);
    }
    if (declaredLength !== undefined && meter.bytes !== declaredLength) {
      await this.staging.remove(file);
      throw ApiError.badRequest(`Image data size mismatch: Content-Length said ${declaredLength} bytes but ${meter.bytes} arrived. Nothing was stored; image ${image.id} is still queued.`);
    }
    return { file, size: meter.bytes, ...meter.digests() };
  }

  private streamError(image: Image, err: unknown, bytes: number): Error {
    if (err instanceof ApiError) return err;
    const e = err as NodeJS.ErrnoException;
    if (e?.code === 'ENOSPC' || e?.code === 'EDQUOT') return ApiError.tooLarge(`The image store is full (${e.code}); nothing was stored and image ${image.id} is still queued.`);
    if (e?.code === 'ETIMEDOUT') return new ApiError(408, `The upload of image ${image.id} sent nothing for ${this.config.KUMO_IMAGE_UPLOAD_IDLE_TIMEOUT_S} s and was abandoned after ${bytes} byte(s); the image is still queued.`);
    if (e?.code === 'ECONNRESET' || e?.code === 'ERR_STREAM_PREMATURE_CLOSE' || e?.message === 'aborted') return new UploadInterrupted(image.id, bytes, e.code ?? 'connection closed');
    return err instanceof Error ? err : new Error(String(err));
  }

  /** Inspects, stores and activates received data; `from` is the status this process holds the image in. */
  private async commit(image: Image, r: Received, from: 'saving' | 'importing', requestId?: string): Promise<Image> {
    let virtualSize: number;
    try {
      virtualSize = (await this.inspector.inspect(r.file, image.diskFormat)).virtualSize;
    } catch (err) {
      await this.staging.remove(r.file);
      if (err instanceof ImageRefusal) {
        await this.images.update(this.images.db, image.id, { status: 'killed', failure_reason: err.reason, upload_owner: null, upload_started_at: null, staged: null }, { status: [from], uploadOwner: this.staging.owner });
        this.log.warn(`image ${image.id} refused and killed: ${err.reason}`);
      }
      throw err;
    }
    let location: string;
    try {
      location = await this.store.put(image.id, r.file);
    } catch (err) {
      await this.staging.remove(r.file);
      throw this.streamError(image, err, r.size);
    }
    try {
      const row = await this.images.transaction(async (tx) => {
        await this.quota.lockAndCheckBytes(tx, image.owner, image.id, r.size);
        const active = await this.images.update(
          tx,
          image.id,
          {
            status: 'active',
            size: r.size,
            virtual_size: virtualSize,
            checksum: r.checksum,
            os_hash_algo: 'sha512',
            os_hash_value: r.osHashValue,
            store: this.store.id,
            location,
            staged: null,
            failure_reason: null,
            upload_owner: null,
            upload_started_at: null,
          },
          { status: [from], uploadOwner: this.staging.owner },
        );
        if (!active) throw new ApiError(410, `Image ${image.id} was deleted while its data was being uploaded; the data was discarded.`);
        await this.images.enqueueEvent(tx, 'image.active', { image: toRecord(active) }, requestId);
        return active;
      });
      this.events.kick();
      return row;
    } catch (err) {
      await this.store.remove(location).catch((e: Error) => this.log.warn(`could not remove data of image ${image.id} after a failed commit: ${e.message}`));
      throw err;
    }
  }

  /** The error a client sees for a failed upload. */
  private outward(image: Image, err: unknown): Error {
    if (err instanceof ImageRefusal) {
      return ApiError.badRequest(`Image data refused: ${err.reason}. Image ${image.id} is now 'killed' and its data was discarded; delete it and upload acceptable data to a new image.`);
    }
    if (err instanceof InspectionUnavailable) return new ApiError(503, `Image data cannot be checked on this server right now (${err.message}); image ${image.id} is still queued. Try again later.`);
    return err instanceof Error ? err : new Error(String(err));
  }

  // ------------------------------------------------------------------ glance-direct

  async stage(auth: AuthContext, id: string, source: Readable, declaredLength: number | undefined): Promise<void> {
    const image = await this.imagesService.findVisible(auth, id);
    this.policy.enforce('upload_image', auth, { project_id: image.owner ?? '' });
    this.checkDeclaredSize(declaredLength);
    const claimed = await this.claim(image, ['queued'], 'uploading');
    let received: Received | undefined;
    try {
      received = await this.write(claimed, source, declaredLength);
      const staged = this.staging.stagedPath(image.id);
      await this.staging.rename(received.file, staged);
      const row = await this.images.update(
        this.images.db,
        image.id,
        { staged: { path: staged, size: received.size, checksum: received.checksum, osHashValue: received.osHashValue }, upload_owner: null, upload_started_at: null },
        { status: ['uploading'], uploadOwner: this.staging.owner },
      );
      if (!row) {
        await this.staging.remove(staged);
        throw new ApiError(410, `Image ${image.id} was deleted while its data was being staged; the data was discarded.`);
      }
    } catch (err) {
      await this.release(claimed, 'uploading', 'queued', { staged: null });
      throw this.outward(claimed, err);
    }
  }

  async import(auth: AuthContext, id: string, body: unknown, requestId?: string): Promise<void> {
    const image = await this.imagesService.findVisible(auth, id);
    this.policy.enforce('import_image', auth, { project_id: image.owner ?? '' });
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw ApiError.badRequest('Request body must be a JSON object such as {"method": {"name": "glance-direct"}}.');
    const req = body as { method?: { name?: unknown }; stores?: unknown; all_stores?: unknown };
    const method = req.method?.name;
    if (typeof method !== 'string') throw ApiError.badRequest('Import request requires a "method" object with a "name" (GET /v2/info/import lists the methods).');
    if (!(IMPORT_METHODS as readonly string[]).includes(method)) {
      throw ApiError.badRequest(`Import method ${method} is not supported by this cloud (supported: ${IMPORT_METHODS.join(', ')}).`);
    }
    if (req.stores !== undefined) {
      if (!Array.isArray(req.stores) || req.stores.some((s) => s !== this.store.id)) throw ApiError.badRequest(`Unknown store in "stores": this cloud has one store, "${this.store.id}".`);
    }
    if (image.status !== 'uploading' || !image.staged) {
      throw ApiError.conflict(`Image ${image.id} has no staged data (status ${image.status}): PUT its data to /v2/images/${image.id}/stage before importing with glance-direct.`);
    }
    this.requireFormats(image);
    const claimed = await this.claim(image, ['uploading'], 'importing');
    const task = await this.images.insertTask(this.images.db, {
      id: randomUUID(),
      imageId: image.id,
      type: 'api_image_import',
      status: 'processing',
      owner: image.owner,
      userId: auth.userId,
      requestId: requestId ?? null,
      input: { image_id: image.id, import_req: body, backend: [this.store.id] },
      result: null,
      message: '',
      expiresAt: null,
    });
    const run = this.finishImport(claimed, task, requestId).finally(() => this.background.delete(run));
    this.background.add(run);
  }

  private async finishImport(image: Image, task: ImageTask, requestId?: string): Promise<void> {
    const staged = image.staged!;
    try {
      await this.commit(image, { file: staged.path, size: staged.size, checksum: staged.checksum, osHashValue: staged.osHashValue }, 'importing', requestId);
      await this.images.finishTask(task.id, 'success', '', { image_id: image.id });
    } catch (err) {
      const message = this.outward(image, err).message;
      if (!(err instanceof ImageRefusal)) {
        const stillStaged = await this.staging.exists(staged.path);
        await this.release(image, 'importing', stillStaged ? 'uploading' : 'queued', stillStaged ? {} : { staged: null });
      }
      this.log.warn(`import of image ${image.id} failed: ${message}`);
      await this.images.finishTask(task.id, 'failure', message, null).catch(() => undefined);
    }
  }

  async tasks(auth: AuthContext, id: string): Promise<ImageTask[]> {
    const image = await this.imagesService.findVisible(auth, id);
    this.policy.enforce('get_tasks', auth, { project_id: image.owner ?? '' });
    return this.images.tasksOf(image.id);
  }

  // ------------------------------------------------------------------ download

  async download(auth: AuthContext, id: string, rangeHeader: string | undefined): Promise<Download> {
    const image = await this.imagesService.findVisible(auth, id);
    this.policy.enforce('download_image', auth, { project_id: image.owner ?? '' });
    if (image.status === 'deactivated' && !this.policy.allows('download_deactivated_image', auth, { project_id: image.owner ?? '' })) {
      throw ApiError.forbidden('The requested image has been deactivated. Image data download is forbidden.');
    }
    if (!HAS_DATA.includes(image.status) || !image.location || image.size === null) return { kind: 'empty' };
    const range = parseRange(rangeHeader, image.size);
    const location = image.location;
    const span = range ?? { start: 0, end: image.size - 1 };
    const store = this.store;
    // Open now (a missing file is an error before any header is sent) unless the store streams itself.
    const stream = store.copyTo ? undefined : await store.read(location, range);
    const writeTo = (dest: Writable) => (stream ? pipeline(stream, dest) : store.copyTo!(location, span, dest).then(() => void dest.end()));
    return { kind: 'data', size: image.size, range, checksum: image.checksum, writeTo };
  }

  // ------------------------------------------------------------------ local files (RPC, seed)

  /** `image.import_file`: fills a queued image from a file in KUMO_IMAGE_IMPORT_DIRS. */
  async importFile(imageId: string, file: string, removeSource: boolean): Promise<Image> {
    let real: string;
    try {
      real = await this.files.resolveInside(file, importDirsOf(this.config));
    } catch (err) {
      throw new RpcError({ code: 'bad_request', message: (err as Error).message });
    }
    const image = await this.images.get(imageId);
    if (!image || image.status === 'deleted') throw new RpcError({ code: 'not_found', message: `No image found with ID ${imageId}` });
    if (HAS_DATA.includes(image.status)) return image;
    const done = await this.receive(image, this.files.open(real), await this.files.size(real));
    if (removeSource) await this.files.remove(real);
    return done;
  }
}
