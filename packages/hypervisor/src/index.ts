// @kumo/hypervisor: the QEMU/KVM virt driver. Framework-free on purpose (no DB, Nest or AMQP):
// the compute agent embeds it; tests and benchmarks use it on its own.
export * from './driver.js';
export * from './errors.js';
export * from './spec.js';
export { waitUntil } from './wait.js';
export { QemuDriver, type QemuDriverOptions } from './qemu/driver.js';
export { FakeDriver, FakeHostStore, FAKE_BOOT_MARKER, type FakeDriverOptions, type FakeDomain } from './fake/driver.js';
export { FakeVncServer, RFB_BANNER } from './fake/vnc.js';
export { FakeSpawnFailsDriver, FakeFlakySpawnDriver, SmallFakeDriver } from './fake/variants.js';
export { buildQemuArgv, formatCommandLine, type ArgvContext, type InstancePaths } from './qemu/argv.js';
export { instancePaths } from './qemu/supervisor.js';
export {
  QmpClient,
  QmpError,
  QmpCommandError,
  QmpTimeout,
  QmpDisconnected,
  type QmpClientOptions,
  type QmpEvent,
  type QmpEventDataMap,
  type QmpCommandMap,
  type QmpGreeting,
  type MigrationInfo,
  type RunState,
} from './qemu/qmp-client.js';
export {
  inspectImage,
  inspectHeader,
  imageInfo,
  imageBackingChain,
  createImage,
  convertImage,
  resizeImage,
  checkImage,
  rebaseImage,
  commitImage,
  assertInside,
  type ImageFormat,
  type InspectOptions,
  type InspectResult,
  type QemuImgInfo,
  type QemuImgCheck,
} from './qemu/qemu-img.js';
export { probeAccelerator, formatProbe, bootAttempt, DEFAULT_KVM_CANDIDATES, type AccelProbeResult, type ProbeAttempt } from './probe/accel-probe.js';
export { kvmInfo, openTap, setAffinity, getAffinity, nativeStatus, loadNative, type KvmInfo, type KumoNative } from './native.js';
