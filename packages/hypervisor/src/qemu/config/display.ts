// Display: VNC only ever on a unix socket in the instance dir (the console proxy bridges it
// to websockets); never on a TCP port, so no password/TLS question arises on the host.
import type { DomainSpec } from '../../spec.js';
import { type ArgvContext, type Fragment, opts } from './common.js';

const VIDEO_DEVICE: Record<Exclude<DomainSpec['console']['video'], 'none'>, string> = {
  std: 'VGA',
  virtio: 'virtio-vga',
  cirrus: 'cirrus-vga',
};

export function displayArgs(spec: DomainSpec, ctx: ArgvContext): Fragment {
  const out: Fragment = [];
  const video = spec.console.video === 'none' && spec.console.vnc ? 'std' : spec.console.video;
  if (video !== 'none') out.push('-device', opts(VIDEO_DEVICE[video], { id: 'video0' }));
  if (spec.console.vnc) out.push('-vnc', `unix:${ctx.paths.vncSocket}`);
  else out.push('-display', 'none');
  return out;
}
