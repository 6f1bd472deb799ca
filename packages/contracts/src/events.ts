import type { IdentityAuditEvent, RevocationList } from './identity.js';
import type { ImageEventPayloads } from './image.js';
import type { NetworkEventPayloads } from './network.js';
import type { ComputeEventPayloads } from './compute.js';
import type { VolumeEventPayloads } from './volume.js';

/**
 * Facts published on the `kumo.events` topic exchange. Routing key = the key of this map.
 * Consumers must be idempotent: an event can be delivered more than once.
 */
export interface EventPayloads extends ImageEventPayloads, NetworkEventPayloads, ComputeEventPayloads, VolumeEventPayloads {
  /** Emitted once by a service when it has started and is ready (health probes, dashboards). */
  'service.started': { service: string; version: string; hostname: string; pid: number; startedAt: string };
  /** Broadcast: every process of every service receives it (see identity.ts). */
  'identity.revoked': RevocationList;
  /** Security audit trail of identity (logins, failures, role changes). */
  'identity.audit': IdentityAuditEvent;
}

export type EventName = keyof EventPayloads;
