// NICs: a tap netdev (by passed fd, or by ifname) plus a guest device. Like drive.ts, the
// same property objects serve cold-plug (argv) and hot-plug (QMP netdev_add / device_add).
import type { DomainSpec, NicSpec } from '../../spec.js';
import { type ArgvContext, type Fragment, opts } from './common.js';
import { deviceOpt } from './drive.js';

export function netdevId(n: NicSpec): string {
  return `net-${n.id}`;
}

/**
 * netdev properties. With fds (preferred) QEMU never needs CAP_NET_ADMIN and the TAP may live
 * in another network namespace; `fds` is a colon list, one per queue. With only an ifname,
 * QEMU opens (or creates) the TAP itself; script=no because the agent plugs bridges.
 * vnet_hdr is implied with fds passed by the driver, which opens them with IFF_VNET_HDR.
 */
export function netdevProps(n: NicSpec, fds?: { tap: (number | string)[]; vhost?: (number | string)[] }): Record<string, string | number | boolean | undefined> {
  const props: Record<string, string | number | boolean | undefined> = { type: 'tap', id: netdevId(n) };
  if (fds && fds.tap.length) {
    if (fds.tap.length === 1) props.fd = String(fds.tap[0]);
    else props.fds = fds.tap.join(':');
    if (n.vhost && fds.vhost?.length) {
      if (fds.vhost.length === 1) props.vhostfd = String(fds.vhost[0]);
      else props.vhostfds = fds.vhost.join(':');
    }
  } else {
    props.ifname = n.tap.ifname;
    props.script = 'no';
    props.downscript = 'no';
    if (n.queues > 1) props.queues = n.queues;
  }
  props.vhost = n.vhost;
  return props;
}

export function nicDevice(n: NicSpec): Record<string, unknown> {
  const dev: Record<string, unknown> = { driver: n.model, id: n.id, netdev: netdevId(n), mac: n.mac, bootindex: n.bootIndex };
  if (n.model === 'virtio-net-pci') {
    if (n.queues > 1) {
      dev.mq = 'on';
      // one MSI-X vector per rx and tx queue, plus config and control
      dev.vectors = 2 * n.queues + 2;
    }
    if (n.mtu) dev.host_mtu = n.mtu;
  } else {
    // Option ROMs are only useful for PXE; nodefaults guests without bootindex skip them.
    if (n.bootIndex === undefined) dev.romfile = '';
  }
  return dev;
}

export function nicsArgs(spec: DomainSpec, ctx: ArgvContext): Fragment {
  const out: Fragment = [];
  for (const n of spec.nics) {
    const { type, ...rest } = netdevProps(n, ctx.nicFds?.[n.id]);
    out.push('-netdev', opts(String(type), rest));
    out.push('-device', deviceOpt(nicDevice(n)));
  }
  return out;
}
