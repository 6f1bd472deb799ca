import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { checkImage, type ImageFormat, inspectImage, isHypervisorError } from '@kumo/hypervisor';

const run = promisify(execFile);

/** The upload's data is not acceptable as the image it claims to be; the image goes to `killed`. */
export class ImageRefusal extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'ImageRefusal';
  }
}

/** The host cannot inspect images (qemu-img missing, ...): a server problem, not the upload's. */
export class InspectionUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InspectionUnavailable';
  }
}

export interface InspectionFacts {
  /** The format the content really is (hypervisor's detection). */
  format: ImageFormat;
  virtualSize: number;
}

export interface InspectorOptions {
  /** Wall-clock limit of one qemu-img run. */
  timeoutMs: number;
  /** Address-space and CPU-time limits of qemu-img (prlimit), against hostile headers. */
  memoryBytes: number;
  cpuSeconds: number;
  /** Also `qemu-img check` qcow2 images and refuse corrupt ones. */
  qcow2Check: boolean;
  maxVirtualSize: number;
  /** Private directory for the limited qemu-img wrapper script. */
  runDir: string;
}

/**
 * What Glance's disk_format means to qemu-img. ami/ari/aki are raw bytes (a disk, a kernel,
 * an initrd); ploop has no inspector here, so it is refused rather than trusted.
 */
export function inspectionFormatOf(diskFormat: string): ImageFormat | null {
  switch (diskFormat) {
    case 'raw':
    case 'ami':
    case 'ari':
    case 'aki':
      return 'raw';
    case 'qcow2':
    case 'vmdk':
    case 'vdi':
    case 'vhdx':
    case 'iso':
      return diskFormat;
    case 'vhd':
      return 'vpc';
    default:
      return null;
  }
}

/**
 * Vets uploaded data with packages/hypervisor's inspectImage (format detected from the header
 * by our own parser, never probed by QEMU; no backing file, external data file or VMDK extent
 * allowed at all), then bounds the virtual size and optionally runs `qemu-img check`.
 * Every qemu-img runs under prlimit (address space, CPU seconds) through a tiny wrapper script,
 * because the hypervisor package's qemu-img runner has a wall-clock timeout only.
 */
export class Inspector {
  private binary = 'qemu-img';

  constructor(private readonly options: InspectorOptions) {}

  /** Reports what limits apply (logged at start-up). */
  async init(): Promise<string> {
    await run('qemu-img', ['--version'], { timeout: 10_000 }).catch((err: Error) => {
      throw new InspectionUnavailable(`qemu-img cannot be run (${err.message}): install the Debian package qemu-utils; uploads cannot be inspected without it`);
    });
    const prlimit = await run('prlimit', ['--version'], { timeout: 10_000 }).then(
      () => true,
      () => false,
    );
    if (!prlimit) return 'qemu-img runs without prlimit limits (util-linux prlimit not found): only the wall-clock timeout applies';
    await fs.promises.mkdir(this.options.runDir, { recursive: true, mode: 0o700 });
    const wrapper = path.join(this.options.runDir, 'qemu-img-limited');
    const script = `#!/bin/sh\n# Written by kumo-image: qemu-img under resource limits, for untrusted image files.\nexec prlimit --as=${this.options.memoryBytes} --cpu=${this.options.cpuSeconds} -- qemu-img "$@"\n`;
    const tmp = `${wrapper}.${process.pid}`;
    await fs.promises.writeFile(tmp, script, { mode: 0o700 });
    await fs.promises.rename(tmp, wrapper);
    this.binary = wrapper;
    return `qemu-img limited to ${this.options.memoryBytes} bytes of address space and ${this.options.cpuSeconds} s of CPU (${wrapper})`;
  }

  async inspect(file: string, diskFormat: string | null): Promise<InspectionFacts> {
    if (!diskFormat) throw new ImageRefusal('the image has no disk_format');
    const declared = inspectionFormatOf(diskFormat);
    if (!declared) throw new ImageRefusal(`disk_format ${diskFormat} cannot be inspected by this cloud, so its data is not accepted`);
    const img = { binary: this.binary, timeoutMs: this.options.timeoutMs };
    let facts: InspectionFacts;
    try {
      const r = await inspectImage(file, { ...img, declaredFormat: declared, allowedDirs: [] });
      facts = { format: r.format, virtualSize: r.virtualSize };
    } catch (err) {
      throw this.classify(err, diskFormat);
    }
    if (!Number.isFinite(facts.virtualSize) || facts.virtualSize < 0) throw new ImageRefusal(`qemu-img reported an invalid virtual size (${facts.virtualSize})`);
    if (facts.virtualSize > this.options.maxVirtualSize) {
      throw new ImageRefusal(`its virtual size ${facts.virtualSize} bytes exceeds this cloud's limit of ${this.options.maxVirtualSize} bytes (KUMO_IMAGE_MAX_VIRTUAL_SIZE)`);
    }
    if (this.options.qcow2Check && facts.format === 'qcow2') {
      try {
        const c = await checkImage(file, { ...img, format: 'qcow2' });
        if ((c.corruptions ?? 0) > 0 || c['check-errors'] > 0) throw new ImageRefusal(`qemu-img check found ${c.corruptions ?? 0} corruption(s) and ${c['check-errors']} error(s) in the qcow2 image`);
      } catch (err) {
        throw this.classify(err, diskFormat);
      }
    }
    return facts;
  }

  private classify(err: unknown, diskFormat: string): Error {
    if (err instanceof ImageRefusal) return err;
    if (isHypervisorError(err, 'ImageRefused')) {
      // "Image <path> refused: <reason>": the path is ours (a staging file), the reason is the user's business.
      const reason = err.message.replace(/^Image \S+ refused: /, '');
      return new ImageRefusal(reason);
    }
    if (isHypervisorError(err, 'HostError')) {
      if (/cannot be run/.test(err.message)) return new InspectionUnavailable(err.message);
      // qemu-img itself failed on this content (malformed header, limits hit, killed by the timeout).
      const detail = err.message.replace(/\/[^\s'":]+/g, '<file>').slice(0, 500);
      return new ImageRefusal(`qemu-img could not read it as ${diskFormat}: ${detail}`);
    }
    return err instanceof Error ? err : new Error(String(err));
  }
}
