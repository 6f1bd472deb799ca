import { Readable, Writable } from 'node:stream';
import { ApiError } from '@kumo/service-kit';
import type { ImageConfig } from '../config.js';
import type { ImageRepository } from '../db/image.repository.js';
import type { Image } from '../images/image.model.js';
import type { ImagesService } from '../images/images.service.js';
import { ImageRefusal, type Inspector } from '../inspection/inspector.js';
import type { QuotaService } from '../quota/quota.service.js';
import type { ImageStore } from '../store/image-store.js';
import type { LocalFiles } from '../store/local-files.js';
import type { StagingArea } from '../store/staging.js';
import { InlineHasher } from './hashing.js';
import { ImageDataService } from './image-data.service.js';

/** The upload state machine with every side effect mocked: which writes happen on each path. */
const image = (over: Partial<Image> = {}): Image => ({
  id: '11111111-2222-4333-8444-555555555555',
  name: 'x',
  status: 'queued',
  visibility: 'shared',
  protected: false,
  osHidden: false,
  owner: 'p1',
  diskFormat: 'qcow2',
  containerFormat: 'bare',
  size: null,
  virtualSize: null,
  checksum: null,
  osHashAlgo: null,
  osHashValue: null,
  minRam: 0,
  minDisk: 0,
  properties: {},
  tags: [],
  store: null,
  location: null,
  failureReason: null,
  staged: null,
  uploadOwner: null,
  createdAt: new Date(),
  updatedAt: new Date(),
  deletedAt: null,
  ...over,
});

function setup(opts: { inspect?: () => Promise<{ format: 'qcow2'; virtualSize: number }>; remaining?: number } = {}) {
  const written: Buffer[] = [];
  const tx = { rows: jest.fn(), exec: jest.fn() };
  const repo = {
    db: { rows: jest.fn(), exec: jest.fn() },
    update: jest.fn(async (_sql: unknown, _id: string, set: Record<string, unknown>, _onlyIf?: unknown) => image({ ...(set.status ? { status: set.status as Image['status'] } : {}) })),
    get: jest.fn(),
    transaction: jest.fn(async (fn: (t: typeof tx) => Promise<unknown>) => fn(tx)),
    enqueueEvent: jest.fn(async () => '1'),
  };
  const quota = {
    remainingBytes: jest.fn(async () => ({ remaining: opts.remaining ?? Infinity, limits: { maxImages: Infinity, maxBytes: opts.remaining ?? Infinity }, usage: { images: 0, bytes: 0 } })),
    storageExceeded: jest.fn(() => ApiError.tooLarge('quota')),
    lockAndCheckBytes: jest.fn(async () => undefined),
  };
  const staging = {
    owner: 'host:1:1',
    partPath: jest.fn(() => '/staging/part'),
    createWriter: jest.fn(() => new Writable({ write: (c: Buffer, _e, cb) => (written.push(c), cb()) })),
    remove: jest.fn(async () => undefined),
  };
  const inspector = { inspect: jest.fn(opts.inspect ?? (async () => ({ format: 'qcow2' as const, virtualSize: 1 << 30 }))) };
  const store = { id: 'file', put: jest.fn(async () => 'loc'), remove: jest.fn(async () => undefined) };
  const events = { kick: jest.fn() };
  const config = { KUMO_IMAGE_MAX_SIZE: 1 << 20, KUMO_IMAGE_FSYNC: false, KUMO_IMAGE_UPLOAD_IDLE_TIMEOUT_S: 5 } as ImageConfig;
  const sut = new ImageDataService(
    repo as unknown as ImageRepository,
    {} as ImagesService,
    {} as never,
    quota as unknown as QuotaService,
    staging as unknown as StagingArea,
    inspector as unknown as Inspector,
    {} as LocalFiles,
    store as unknown as ImageStore,
    events,
    config,
    new InlineHasher(),
  );
  return { sut, repo, quota, staging, inspector, store, events, written };
}

const statusesSet = (repo: ReturnType<typeof setup>['repo']) => repo.update.mock.calls.map((c) => (c[2] as { status?: string }).status);

it('activates: claim, stream, inspect, store, then one transaction with the event', async () => {
  const { sut, repo, store, events, written, staging } = setup();
  const done = await sut.receive(image(), Readable.from([Buffer.from('abc'), Buffer.from('def')]), 6);
  expect(done.status).toBe('active');
  expect(Buffer.concat(written).toString()).toBe('abcdef');
  expect(statusesSet(repo)).toEqual(['saving', 'active']);
  const activeSet = repo.update.mock.calls[1]![2] as Record<string, unknown>;
  expect(activeSet).toMatchObject({ size: 6, virtual_size: 1 << 30, checksum: 'e80b5017098950fc58aad83c8c14978e', os_hash_algo: 'sha512', store: 'file', location: 'loc' });
  expect(repo.update.mock.calls[1]![3]).toEqual({ status: ['saving'], uploadOwner: 'host:1:1' });
  expect(store.put).toHaveBeenCalledWith(image().id, '/staging/part');
  expect(repo.enqueueEvent).toHaveBeenCalledWith(expect.anything(), 'image.active', expect.anything(), undefined);
  expect(events.kick).toHaveBeenCalled();
  expect(staging.remove).not.toHaveBeenCalled();
});

it('kills the image when inspection refuses the data, and stores nothing', async () => {
  const { sut, repo, store, staging } = setup({ inspect: async () => Promise.reject(new ImageRefusal('backing file "/etc/passwd" is not allowed')) });
  const err = await sut.receive(image(), Readable.from([Buffer.from('QFI')]), undefined).catch((e) => e);
  expect(err).toBeInstanceOf(ApiError);
  expect(err.status).toBe(400);
  expect(err.message).toMatch(/killed/);
  expect(statusesSet(repo)).toEqual(['saving', 'killed']);
  expect(repo.update.mock.calls[1]![2]).toMatchObject({ failure_reason: 'backing file "/etc/passwd" is not allowed' });
  expect(staging.remove).toHaveBeenCalledWith('/staging/part');
  expect(store.put).not.toHaveBeenCalled();
});

it('puts the image back to queued when the stream passes the quota, without inspecting or storing', async () => {
  const { sut, repo, store, inspector, staging } = setup({ remaining: 4 });
  const err = await sut.receive(image(), Readable.from([Buffer.from('abc'), Buffer.from('def')]), undefined).catch((e) => e);
  expect(err.status).toBe(413);
  expect(statusesSet(repo)).toEqual(['saving', 'queued']);
  expect(inspector.inspect).not.toHaveBeenCalled();
  expect(store.put).not.toHaveBeenCalled();
  expect(staging.remove).toHaveBeenCalled();
});

it('refuses empty data and a Content-Length larger than the cap before anything is claimed', async () => {
  const a = setup();
  expect((await a.sut.receive(image(), Readable.from([]), 0).catch((e) => e)).message).toMatch(/empty/);
  expect(statusesSet(a.repo)).toEqual(['saving', 'queued']);
  const b = setup();
  expect((await b.sut.receive(image(), Readable.from([]), 2 << 20).catch((e) => e)).status).toBe(413);
  expect(b.repo.update).not.toHaveBeenCalled();
});

it('removes stored data when the image was deleted during the upload (410)', async () => {
  const { sut, repo, store } = setup();
  repo.update.mockImplementationOnce(async () => image({ status: 'saving' })).mockImplementationOnce(async () => null as never);
  const err = await sut.receive(image(), Readable.from([Buffer.from('x')]), 1).catch((e) => e);
  expect(err.status).toBe(410);
  expect(store.remove).toHaveBeenCalledWith('loc');
});
