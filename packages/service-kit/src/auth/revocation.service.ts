import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Revocation } from '@kumo/contracts';
import { AmqpRpcTransport } from '../amqp/client.js';
import { AmqpConnection } from '../amqp/connection.js';
import type { AuthContext } from './claims.js';
import { RevocationList } from './revocations.js';

/**
 * Keeps this process's revocation list current: the `identity.revoked` broadcast adds entries
 * within milliseconds; at start-up, after every broker reconnect (broadcasts sent while we were
 * disconnected are lost) and every few minutes as a safety net, the whole list is fetched with
 * the `identity.revocations` RPC.
 */
@Injectable()
export class RevocationService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('revocations');
  private readonly list = new RevocationList();
  private timer?: NodeJS.Timeout;
  private syncing = false;
  private lastSyncOk = false;
  private lastSyncAt = 0;
  private warned = false;

  constructor(
    private readonly rpc: AmqpRpcTransport,
    private readonly connection: AmqpConnection,
  ) {}

  add(entries: Revocation[]): void {
    this.list.add(entries);
  }

  check(auth: AuthContext): string | undefined {
    return this.list.check(auth);
  }

  get synced(): boolean {
    return this.lastSyncOk;
  }

  onApplicationBootstrap(): void {
    void this.sync();
    this.connection.onConnect(() => void this.sync());
    // Retry every 5 s until the first sync succeeds, then refresh every 5 minutes.
    this.timer = setInterval(() => {
      this.list.prune();
      if (!this.lastSyncOk || Date.now() - this.lastSyncAt > 300_000) void this.sync();
    }, 5_000);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Fetches the full list from identity; failures are retried by the timer. */
  async sync(): Promise<boolean> {
    if (this.syncing) return false;
    this.syncing = true;
    try {
      const { revocations } = await this.rpc.client('identity').call('revocations', {}, { timeoutMs: 5000 });
      this.list.add(revocations);
      if (!this.lastSyncOk) this.log.log(`revocation list synchronised (${revocations.length} entries)`);
      this.lastSyncOk = true;
      this.lastSyncAt = Date.now();
      this.warned = false;
      return true;
    } catch (err) {
      if (!this.warned) {
        this.log.warn(`cannot fetch the revocation list from identity (${(err as Error).message}); tokens revoked before this service started may be accepted until it answers. Retrying.`);
        this.warned = true;
      }
      return false;
    } finally {
      this.syncing = false;
    }
  }
}
