// Typed errors shared by every HypervisorDriver implementation. Callers (the compute agent)
// branch on `code`, never on message text; messages are sentences that say what happened and
// what to check, because they end up in an instance's fault record.

export type HypervisorErrorCode =
  | 'DomainNotFound'
  | 'DomainAlreadyExists'
  | 'InvalidState'
  | 'InvalidSpec'
  | 'InvalidArgument'
  | 'DeviceNotFound'
  | 'DeviceAlreadyExists'
  | 'DeviceDetachTimeout'
  | 'SpawnFailed'
  | 'MigrationFailed'
  | 'OperationTimeout'
  | 'HostError'
  | 'InsufficientResources'
  | 'ImageRefused'
  | 'GuestAgentUnavailable';

export class HypervisorError extends Error {
  readonly code: HypervisorErrorCode;
  constructor(code: HypervisorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = code;
  }
}

export class DomainNotFound extends HypervisorError {
  constructor(readonly domainId: string) {
    super('DomainNotFound', `Domain ${domainId} does not exist on this host.`);
  }
}

export class DomainAlreadyExists extends HypervisorError {
  constructor(readonly domainId: string) {
    super('DomainAlreadyExists', `Domain ${domainId} already exists on this host; destroy it first or use another id.`);
  }
}

export class InvalidState extends HypervisorError {
  constructor(
    readonly domainId: string,
    readonly operation: string,
    readonly state: string,
    readonly allowed: readonly string[],
  ) {
    super('InvalidState', `Cannot ${operation} domain ${domainId} while it is ${state} (allowed in: ${allowed.join(', ')}).`);
  }
}

/** A DomainSpec (or an argument derived from it) was refused; `field` is the dotted path, e.g. `disks[1].cache`. */
export class InvalidSpec extends HypervisorError {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super('InvalidSpec', `Invalid domain spec: ${field}: ${reason}`);
  }
}

export class InvalidArgument extends HypervisorError {
  constructor(
    readonly argument: string,
    readonly reason: string,
  ) {
    super('InvalidArgument', `Invalid argument ${argument}: ${reason}`);
  }
}

export class DeviceNotFound extends HypervisorError {
  constructor(
    readonly domainId: string,
    readonly deviceId: string,
  ) {
    super('DeviceNotFound', `Domain ${domainId} has no device ${deviceId}.`);
  }
}

export class DeviceAlreadyExists extends HypervisorError {
  constructor(
    readonly domainId: string,
    readonly deviceId: string,
  ) {
    super('DeviceAlreadyExists', `Domain ${domainId} already has a device ${deviceId}.`);
  }
}

export class DeviceDetachTimeout extends HypervisorError {
  constructor(
    readonly domainId: string,
    readonly deviceId: string,
    timeoutMs: number,
  ) {
    super(
      'DeviceDetachTimeout',
      `The guest of ${domainId} did not release device ${deviceId} within ${timeoutMs} ms ` +
        '(PCI unplug needs the guest OS to acknowledge the ACPI eject; check that the guest is booted and has ACPI hotplug).',
    );
  }
}

export class SpawnFailed extends HypervisorError {
  constructor(
    readonly domainId: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super('SpawnFailed', `Domain ${domainId} failed to start: ${detail}`, options);
  }
}

export class MigrationFailed extends HypervisorError {
  constructor(
    readonly domainId: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super('MigrationFailed', `Live migration of ${domainId} failed: ${detail}`, options);
  }
}

export class OperationTimeout extends HypervisorError {
  constructor(what: string, timeoutMs: number) {
    super('OperationTimeout', `${what} did not finish within ${timeoutMs} ms.`);
  }
}

/** Something on the host is missing or broken (binary not installed, permission, ...). */
export class HostError extends HypervisorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HostError', message, options);
  }
}

export class InsufficientResources extends HypervisorError {
  constructor(message: string) {
    super('InsufficientResources', message);
  }
}

/** qemu-img / image inspection refused an image (format mismatch, backing file outside allowed dirs, ...). */
export class ImageRefused extends HypervisorError {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super('ImageRefused', `Image ${path} refused: ${reason}`);
  }
}

/**
 * The operation needs a guest agent inside the domain (qemu-guest-agent on a virtio-serial
 * channel) and this domain has none. Nothing was changed.
 */
export class GuestAgentUnavailable extends HypervisorError {
  constructor(
    readonly domainId: string,
    reason: string,
  ) {
    super('GuestAgentUnavailable', `Domain ${domainId} has no guest agent: ${reason}`);
  }
}

export function isHypervisorError(e: unknown, code?: HypervisorErrorCode): e is HypervisorError {
  return e instanceof HypervisorError && (code === undefined || e.code === code);
}
