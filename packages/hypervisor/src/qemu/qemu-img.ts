// qemu-img wrapper and safe image inspection.
//
// Security (the Glance CVE-2024-32498 class): an uploaded "disk image" can point QEMU at host
// files. A qcow2 whose backing_file (or external data-file) is /etc/shadow makes any QEMU
// that opens it read that file into the guest; a VMDK descriptor can list arbitrary files as
// extents; a file declared raw but containing a qcow2 header becomes such a qcow2 the moment
// anything probes its format. inspectImage() therefore:
//   1. parses the header itself (never letting qemu-img probe an untrusted file first),
//   2. refuses a detected format different from the declared one,
//   3. refuses backing files / data files / VMDK extents outside the allowed directories
//      (after resolving relative names against the image's directory, and symlinks),
//   4. only then runs `qemu-img info -f <declared> --output=json` (with the format forced) and
//      re-checks what qemu-img reports, as a second opinion.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { HostError, ImageRefused } from '../errors.js';

export type ImageFormat = 'raw' | 'qcow2' | 'qed' | 'vmdk' | 'vdi' | 'vhdx' | 'vpc' | 'luks' | 'iso';

export interface QemuImgInfo {
  filename: string;
  format: string;
  'virtual-size': number;
  'actual-size'?: number;
  'cluster-size'?: number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'backing-filename-format'?: string;
  'dirty-flag'?: boolean;
  'format-specific'?: { type: string; data: Record<string, unknown> };
}

export interface QemuImgCheck {
  'check-errors': number;
  corruptions?: number;
  leaks?: number;
  'image-end-offset'?: number;
  filename: string;
  format: string;
}

export interface ImgOptions {
  /** qemu-img binary (default qemu-img). */
  binary?: string;
  timeoutMs?: number;
}

export async function runQemuImg(args: string[], opts: ImgOptions = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  const bin = opts.binary ?? 'qemu-img';
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 600_000);
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(new HostError(`${bin} cannot be run (${e.message}): install the Debian package qemu-utils.`));
    });
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code: code ?? (signal ? 128 : 1) });
    });
  });
}

async function must(args: string[], opts?: ImgOptions): Promise<string> {
  const r = await runQemuImg(args, opts);
  if (r.code !== 0) throw new HostError(`qemu-img ${args[0]} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/**
 * `qemu-img info --output=json`. Pass `format` for anything untrusted (no probing). With
 * backingChain, returns every image in the chain, top first.
 */
export async function imageInfo(file: string, opts: ImgOptions & { format?: string } = {}): Promise<QemuImgInfo> {
  const args = ['info', '--output=json', '-U'];
  if (opts.format) args.push('-f', opts.format);
  args.push(file);
  return JSON.parse(await must(args, opts)) as QemuImgInfo;
}

export async function imageBackingChain(file: string, opts: ImgOptions & { format?: string } = {}): Promise<QemuImgInfo[]> {
  const args = ['info', '--output=json', '-U', '--backing-chain'];
  if (opts.format) args.push('-f', opts.format);
  args.push(file);
  return JSON.parse(await must(args, opts)) as QemuImgInfo[];
}

export async function createImage(
  file: string,
  o: ImgOptions & { format: 'qcow2' | 'raw'; sizeBytes?: number; backingFile?: string; backingFormat?: string; allowedDirs?: string[] },
): Promise<void> {
  const args = ['create', '-q', '-f', o.format];
  if (o.backingFile) {
    if (o.allowedDirs) assertInside(file, o.backingFile, o.allowedDirs, 'backing file');
    if (!o.backingFormat) throw new HostError('createImage: backingFormat is required with backingFile (never let qemu-img probe a backing file)');
    args.push('-b', o.backingFile, '-F', o.backingFormat);
  }
  args.push(file);
  if (o.sizeBytes !== undefined) args.push(String(o.sizeBytes));
  await must(args, o);
}

export async function convertImage(
  src: string,
  dst: string,
  o: ImgOptions & { srcFormat: string; dstFormat: 'qcow2' | 'raw'; compress?: boolean },
): Promise<void> {
  const args = ['convert', '-q', '-f', o.srcFormat, '-O', o.dstFormat];
  if (o.compress) args.push('-c');
  args.push(src, dst);
  await must(args, o);
}

export async function resizeImage(file: string, sizeBytes: number, o: ImgOptions & { format: string; shrink?: boolean }): Promise<void> {
  const args = ['resize', '-q', '-f', o.format];
  if (o.shrink) args.push('--shrink');
  args.push(file, String(sizeBytes));
  await must(args, o);
}

/** `qemu-img check`: exit 0 clean, 2 corruptions, 3 leaks only; all reported, not thrown. */
export async function checkImage(file: string, o: ImgOptions & { format: string }): Promise<QemuImgCheck & { ok: boolean }> {
  const r = await runQemuImg(['check', '--output=json', '-f', o.format, file], o);
  if (r.code !== 0 && r.code !== 2 && r.code !== 3) throw new HostError(`qemu-img check failed (exit ${r.code}): ${r.stderr.trim()}`);
  const out = JSON.parse(r.stdout) as QemuImgCheck;
  return { ...out, ok: r.code === 0 };
}

/** Rebase `file` onto a new backing file. unsafe: only rewrite the header (content identical). */
export async function rebaseImage(
  file: string,
  o: ImgOptions & { format: string; backingFile: string; backingFormat: string; unsafe?: boolean; allowedDirs?: string[] },
): Promise<void> {
  if (o.allowedDirs && o.backingFile) assertInside(file, o.backingFile, o.allowedDirs, 'backing file');
  const args = ['rebase', '-q', '-f', o.format, '-b', o.backingFile, '-F', o.backingFormat];
  if (o.unsafe) args.push('-u');
  args.push(file);
  await must(args, o);
}

/** Merge `file`'s changes into its backing file (or `base` in the chain). */
export async function commitImage(file: string, o: ImgOptions & { format: string; base?: string }): Promise<void> {
  const args = ['commit', '-q', '-f', o.format];
  if (o.base) args.push('-b', o.base);
  args.push(file);
  await must(args, o);
}

// ------------------------------------------------------------ inspection ----

export interface HeaderInfo {
  format: ImageFormat;
  backingFile?: string;
  dataFile?: string;
  /** VMDK only: createType and extent file names. */
  vmdkCreateType?: string;
  vmdkExtents?: string[];
}

function readHead(file: string, bytes: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const n = fs.readSync(fd, buf, 0, bytes, 0);
    return buf.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

function readAt(file: string, offset: number, len: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(len);
    const n = fs.readSync(fd, buf, 0, len, offset);
    return buf.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Detects the format from magic numbers and extracts every external file reference, without
 * ever invoking QEMU. Unknown content is raw.
 */
export function inspectHeader(file: string): HeaderInfo {
  const head = readHead(file, 4096);
  const magic = head.subarray(0, 4);
  if (magic.equals(Buffer.from([0x51, 0x46, 0x49, 0xfb]))) return parseQcow2(file, head);
  if (magic.equals(Buffer.from('QED\0', 'binary'))) {
    // QED: backing_filename_offset (u32 @56) and size (u32 @60)
    const off = head.readUInt32LE(56);
    const size = head.readUInt32LE(60);
    return { format: 'qed', backingFile: off && size ? readAt(file, off, size).toString('utf8') : undefined };
  }
  if (magic.equals(Buffer.from('KDMV', 'binary'))) return parseVmdkSparse(file, head);
  if (head.subarray(0, 8).toString('latin1') === 'vhdxfile') return { format: 'vhdx' };
  if (head.subarray(0, 6).equals(Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]))) return { format: 'luks' };
  if (head.length >= 68 && head.readUInt32LE(64) === 0xbeda107f) return { format: 'vdi' };
  if (head.subarray(0, 8).toString('latin1') === 'conectix') return { format: 'vpc' };
  if (head.subarray(0, 21).toString('latin1') === '# Disk DescriptorFile') return parseVmdkDescriptor(head.toString('latin1'), 'vmdk');
  // A VPC (fixed) footer is at the end of the file.
  const size = fs.statSync(file).size;
  if (size >= 512 && readAt(file, size - 512, 8).toString('latin1') === 'conectix') return { format: 'vpc' };
  if (size >= 0x8006 && readAt(file, 0x8001, 5).toString('latin1') === 'CD001') return { format: 'iso' };
  return { format: 'raw' };
}

function parseQcow2(file: string, head: Buffer): HeaderInfo {
  const version = head.readUInt32BE(4);
  const backingOffset = Number(head.readBigUInt64BE(8));
  const backingSize = head.readUInt32BE(16);
  const out: HeaderInfo = { format: 'qcow2' };
  if (backingOffset && backingSize) out.backingFile = readAt(file, backingOffset, Math.min(backingSize, 1023)).toString('utf8');
  if (version >= 3 && head.length >= 104) {
    const incompatible = head.readBigUInt64BE(72);
    const headerLength = head.readUInt32BE(100);
    // Header extensions follow the header: {type u32, len u32, data padded to 8}.
    let off = headerLength;
    const buf = readAt(file, 0, Math.min(65536, Math.max(4096, backingOffset || 65536)));
    while (off + 8 <= buf.length) {
      const type = buf.readUInt32BE(off);
      const len = buf.readUInt32BE(off + 4);
      if (type === 0) break;
      if (type === 0x44415441) out.dataFile = buf.subarray(off + 8, off + 8 + len).toString('utf8'); // "DATA": external data file name
      off += 8 + Math.ceil(len / 8) * 8;
    }
    // Bit 2 = external data file. Its name may be absent from the header (then QEMU needs an
    // explicit data-file option), which we treat as a reference we cannot vet.
    if (incompatible & 4n && !out.dataFile) out.dataFile = '<external data file without a name in the header>';
  }
  return out;
}

function parseVmdkSparse(file: string, head: Buffer): HeaderInfo {
  // Embedded descriptor: descriptorOffset (u64 sectors @28), descriptorSize (u64 sectors @36).
  const descOff = Number(head.readBigUInt64LE(28));
  const descSize = Number(head.readBigUInt64LE(36));
  if (!descOff || !descSize) return { format: 'vmdk', vmdkCreateType: 'unknown' };
  const text = readAt(file, descOff * 512, Math.min(descSize * 512, 65536)).toString('latin1');
  return parseVmdkDescriptor(text, 'vmdk');
}

function parseVmdkDescriptor(text: string, format: 'vmdk'): HeaderInfo {
  const createType = /createType\s*=\s*"([^"]*)"/.exec(text)?.[1] ?? 'unknown';
  const extents: string[] = [];
  const re = /^\s*(?:RW|RDONLY|NOACCESS)\s+\d+\s+\S+\s+"([^"]*)"/gm;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) extents.push(m[1]!);
  const parent = /parentFileNameHint\s*=\s*"([^"]*)"/.exec(text)?.[1];
  return { format, vmdkCreateType: createType, vmdkExtents: extents, backingFile: parent };
}

function realOrResolved(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    // Not existing (yet): resolve the parent directory's symlinks at least.
    try {
      return path.join(fs.realpathSync(path.dirname(p)), path.basename(p));
    } catch {
      return path.resolve(p);
    }
  }
}

/** Throws ImageRefused unless `ref` (relative to `image`'s directory) resolves inside one of `allowedDirs`. */
export function assertInside(image: string, ref: string, allowedDirs: string[], what: string): void {
  if (/^[a-z][a-z0-9+.-]*:/i.test(ref) && !ref.startsWith('file:'))
    throw new ImageRefused(image, `${what} ${JSON.stringify(ref)} is a protocol URI (only local files in the allowed directories are accepted)`);
  const plain = ref.startsWith('file:') ? ref.slice(5) : ref;
  const abs = realOrResolved(path.resolve(path.dirname(image), plain));
  const ok = allowedDirs.some((d) => {
    const root = realOrResolved(d);
    return abs === root || abs.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
  });
  if (!ok) throw new ImageRefused(image, `${what} ${JSON.stringify(ref)} resolves to ${abs}, outside the allowed directories (${allowedDirs.join(', ')})`);
}

export interface InspectOptions extends ImgOptions {
  /** The format the uploader claimed. */
  declaredFormat: ImageFormat;
  /** Directories a backing file / data file may live in. Empty: no external references at all. */
  allowedDirs?: string[];
  /** Also run `qemu-img check` (qcow2) and refuse corrupt images. */
  check?: boolean;
}

export interface InspectResult {
  path: string;
  format: ImageFormat;
  virtualSize: number;
  actualSize?: number;
  backingFile?: string;
  /** Full chain as qemu-img reports it (top first), when there is a backing file. */
  chain: { filename: string; format: string; virtualSize: number }[];
  check?: QemuImgCheck;
}

/**
 * Vets an untrusted image before anything else touches it (the image service calls this on
 * every upload/import). Throws ImageRefused with the reason; resolves with the facts.
 */
export async function inspectImage(file: string, opts: InspectOptions): Promise<InspectResult> {
  const allowed = opts.allowedDirs ?? [];
  if (!fs.existsSync(file)) throw new ImageRefused(file, 'file does not exist');
  const hdr = inspectHeader(file);
  const formatOk = hdr.format === opts.declaredFormat || (opts.declaredFormat === 'raw' && hdr.format === 'iso');
  if (!formatOk)
    throw new ImageRefused(file, `declared format ${opts.declaredFormat} but the content is ${hdr.format} (a mismatch is how format-confusion attacks start)`);
  if (hdr.format === 'vmdk') {
    const okTypes = ['monolithicSparse', 'streamOptimized'];
    if (!okTypes.includes(hdr.vmdkCreateType ?? ''))
      throw new ImageRefused(file, `VMDK createType ${hdr.vmdkCreateType} is not allowed (only single-file ${okTypes.join('/')}; descriptors may name arbitrary host files as extents)`);
    for (const e of hdr.vmdkExtents ?? []) if (e) assertInside(file, e, [path.dirname(file)], 'VMDK extent');
  }
  if (hdr.dataFile) {
    if (hdr.dataFile.startsWith('<')) throw new ImageRefused(file, `qcow2 uses an external data file that the header does not name`);
    if (!allowed.length) throw new ImageRefused(file, `qcow2 external data-file ${JSON.stringify(hdr.dataFile)} is not allowed`);
    assertInside(file, hdr.dataFile, allowed, 'data-file');
  }
  if (hdr.backingFile) {
    if (!allowed.length) throw new ImageRefused(file, `backing file ${JSON.stringify(hdr.backingFile)} is not allowed for this image`);
    assertInside(file, hdr.backingFile, allowed, 'backing file');
  }
  // Safe to let qemu-img look now; the format is forced, never probed.
  const qemuFormat = hdr.format === 'iso' ? 'raw' : hdr.format;
  const chainInfo = hdr.backingFile ? await imageBackingChain(file, { ...opts, format: qemuFormat }) : [await imageInfo(file, { ...opts, format: qemuFormat })];
  const top = chainInfo[0]!;
  // Second opinion: whatever qemu-img says it would open must pass the same checks.
  for (const info of chainInfo) {
    const b = info['full-backing-filename'] ?? info['backing-filename'];
    if (b) {
      if (!allowed.length) throw new ImageRefused(file, `backing file ${JSON.stringify(b)} is not allowed for this image`);
      assertInside(info.filename, b, allowed, 'backing file (qemu-img)');
    }
    const df = info['format-specific']?.data?.['data-file'];
    if (typeof df === 'string') {
      if (!allowed.length) throw new ImageRefused(file, `qcow2 external data-file ${JSON.stringify(df)} is not allowed`);
      assertInside(info.filename, df, allowed, 'data-file (qemu-img)');
    }
  }
  const result: InspectResult = {
    path: file,
    format: hdr.format,
    virtualSize: top['virtual-size'],
    actualSize: top['actual-size'],
    backingFile: hdr.backingFile,
    chain: chainInfo.map((c) => ({ filename: c.filename, format: c.format, virtualSize: c['virtual-size'] })),
  };
  if (opts.check && hdr.format === 'qcow2') {
    const c = await checkImage(file, { ...opts, format: 'qcow2' });
    if (!c.ok && (c.corruptions ?? 0) > 0) throw new ImageRefused(file, `qemu-img check found ${c.corruptions} corruption(s)`);
    result.check = c;
  }
  return result;
}
