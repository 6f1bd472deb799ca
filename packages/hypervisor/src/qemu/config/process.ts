// Process-level options: identity, hardening, monitor, pidfile. These never depend on guest
// hardware and are the same for every domain.
import type { DomainSpec } from '../../spec.js';
import { type ArgvContext, type Fragment, opts } from './common.js';

/**
 * -nodefaults: no implicit NIC/VGA/serial/monitor, so the argv describes every device.
 * -no-user-config: ignore /etc/qemu/*.conf, so the same argv means the same guest everywhere.
 * -sandbox: seccomp; spawn=deny is safe because the driver never uses `exec:` migration
 *   (it passes fds or uses unix sockets), resourcecontrol=deny because pinning is done by the
 *   driver from outside with sched_setaffinity.
 * -name debug-threads=on: vCPU threads are named "CPU n/KVM", which helps pinning and `top -H`.
 */
export function processArgs(spec: DomainSpec, ctx: ArgvContext): Fragment {
  const out: Fragment = ['-nodefaults', '-no-user-config', '-name', opts(undefined, { guest: spec.id, 'debug-threads': true })];
  if (spec.uuid) out.push('-uuid', spec.uuid);
  if (spec.security.sandbox)
    out.push('-sandbox', opts('on', { obsolete: 'deny', elevateprivileges: 'deny', spawn: 'deny', resourcecontrol: 'deny' }));
  if (spec.security.runAs) out.push('-runas', spec.security.runAs);
  out.push('-pidfile', ctx.paths.pidfile);
  // QMP on a unix socket in the instance dir; wait=off so QEMU does not block on us.
  out.push('-chardev', opts('socket', { id: 'qmp', path: ctx.paths.qmpSocket, server: true, wait: false }));
  out.push('-mon', opts(undefined, { chardev: 'qmp', mode: 'control' }));
  out.push('-msg', 'timestamp=on');
  if (ctx.startPaused) out.push('-S');
  if (ctx.incoming) out.push('-incoming', ctx.incoming);
  return out;
}
