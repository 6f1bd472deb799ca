import path from 'node:path';
import { type ImageConfig, storeDirOf } from '../config.js';
import { Inspector } from '../inspection/inspector.js';
import { FileStore } from './file.store.js';
import type { ImageStore } from './image-store.js';
import { StagingArea } from './staging.js';

/** The configured store driver. `rbd` is documented in docs/image.md but not built yet. */
export function createStore(config: ImageConfig): ImageStore {
  switch (config.KUMO_IMAGE_STORE) {
    case 'file':
      return new FileStore(storeDirOf(config));
    case 'rbd':
      throw new Error('KUMO_IMAGE_STORE=rbd: the Ceph RBD driver is the documented scale path (docs/image.md, "Stores") but is not part of this build; use KUMO_IMAGE_STORE=file');
  }
}

/** The staging area sits on the store's filesystem so that committing data is a rename. */
export function createStaging(config: ImageConfig): StagingArea {
  return new StagingArea(path.join(storeDirOf(config), '.staging'));
}

/** Private directory for helper scripts (the limited qemu-img wrapper). */
export function runDirOf(config: ImageConfig): string {
  return path.join(storeDirOf(config), '.run');
}

export function inspectorOf(config: ImageConfig): Inspector {
  return new Inspector({
    timeoutMs: config.KUMO_IMAGE_INSPECT_TIMEOUT_S * 1000,
    memoryBytes: config.KUMO_IMAGE_INSPECT_MEMORY,
    cpuSeconds: config.KUMO_IMAGE_INSPECT_CPU_S,
    qcow2Check: config.KUMO_IMAGE_QCOW2_CHECK,
    maxVirtualSize: config.KUMO_IMAGE_MAX_VIRTUAL_SIZE,
    runDir: runDirOf(config),
  });
}
