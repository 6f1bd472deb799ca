import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import type { NetworkEventPayloads, NetworkResourceEvent } from '@kumo/contracts';
import { type NetworkTouch, PortsRefresher } from './ports-refresher.js';

type NetworkEvent = keyof NetworkEventPayloads;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);
/** Ports whose device is a server (Nova's device_owner `compute:<az>`); routers, DHCP and floating IPs also have device ids. */
const serverDevice = (owner: unknown, device: unknown) => (str(owner)?.startsWith('compute:') ? str(device) : undefined);
const list = (...vs: (string | undefined)[]) => vs.filter((v): v is string => v !== undefined);

/** Which instances a port event may change: its server now, and any that listed the port before. */
export function touchOfPort(e: NetworkResourceEvent): NetworkTouch {
  const r = e.resource ?? {};
  return { deviceIds: list(serverDevice(r.device_owner, r.device_id)), portIds: list(str(r.id) ?? str(e.id)) };
}

/**
 * Which instances a floating IP event may change: the server of the port it points at now, and
 * any that list its address or that port (it may have been disassociated, moved or deleted).
 */
export function touchOfFloatingIp(e: NetworkResourceEvent): NetworkTouch {
  const r = e.resource ?? {};
  const details = (r.port_details ?? {}) as Record<string, unknown>;
  return {
    deviceIds: list(serverDevice(details.device_owner, details.device_id)),
    portIds: list(str(r.port_id)),
    floatingIps: list(str(r.floating_ip_address)),
  };
}

/**
 * The network service's facts that change a server's `addresses` (from `kumo.events`, on the
 * durable queue `kumo.compute.events`). The handlers only find the affected instances and queue
 * a refresh; the refresh asks the network service for the truth (ports-refresher.ts). A failure
 * (database down) throws, so the event is redelivered once.
 */
@Controller()
export class NetworkEventsController {
  constructor(private readonly refresher: PortsRefresher) {}

  private async on(event: NetworkEvent, e: NetworkResourceEvent): Promise<void> {
    if (!e || typeof e !== 'object') return;
    await this.refresher.touch(event.startsWith('port.') ? touchOfPort(e) : touchOfFloatingIp(e));
  }

  @EventPattern<NetworkEvent>('port.updated')
  portUpdated(@Payload() e: NetworkResourceEvent) {
    return this.on('port.updated', e);
  }

  @EventPattern<NetworkEvent>('port.deleted')
  portDeleted(@Payload() e: NetworkResourceEvent) {
    return this.on('port.deleted', e);
  }

  @EventPattern<NetworkEvent>('floatingip.created')
  floatingIpCreated(@Payload() e: NetworkResourceEvent) {
    return this.on('floatingip.created', e);
  }

  @EventPattern<NetworkEvent>('floatingip.updated')
  floatingIpUpdated(@Payload() e: NetworkResourceEvent) {
    return this.on('floatingip.updated', e);
  }

  @EventPattern<NetworkEvent>('floatingip.deleted')
  floatingIpDeleted(@Payload() e: NetworkResourceEvent) {
    return this.on('floatingip.deleted', e);
  }
}
