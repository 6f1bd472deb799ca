// Fake driver variants for failure-path tests upstream (cf. nova's FakeRescheduleDriver,
// SmallFakeDriver).
import type { DomainSpec } from '../spec.js';
import { SpawnFailed } from '../errors.js';
import { FakeDriver, type FakeDriverOptions } from './driver.js';

/** Every spawn fails after validation (as a QEMU that cannot start would), leaving nothing behind. */
export class FakeSpawnFailsDriver extends FakeDriver {
  protected override beforeSpawn(spec: DomainSpec): void {
    throw new SpawnFailed(spec.id, 'injected failure (FakeSpawnFailsDriver)');
  }
}

/** Fails the first `failures` spawns, then behaves normally (reschedule/retry paths). */
export class FakeFlakySpawnDriver extends FakeDriver {
  private remaining: number;
  constructor(failures: number, opts?: FakeDriverOptions) {
    super(opts);
    this.remaining = failures;
  }
  protected override beforeSpawn(spec: DomainSpec): void {
    if (this.remaining > 0) {
      this.remaining--;
      throw new SpawnFailed(spec.id, 'injected failure (FakeFlakySpawnDriver)');
    }
  }
}

/** A host with 4 vCPUs and 2 GiB: quickly full, for capacity/scheduler tests. */
export class SmallFakeDriver extends FakeDriver {
  constructor(opts?: FakeDriverOptions) {
    super({ ...opts, capacity: opts?.capacity ?? { vcpus: 4, memoryMb: 2048 } });
  }
}
