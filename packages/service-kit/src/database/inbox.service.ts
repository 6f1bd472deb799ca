import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { InboxMessage } from './inbox.entity.js';

export type InboxOutcome<T> = { duplicate: false; result: T } | { duplicate: true; result: T };

/**
 * Exactly-once effects on top of at-least-once delivery. `runOnce(messageId, pattern, fn)` runs
 * `fn` in a transaction that also records the message id; if the id is already recorded (a
 * redelivery after the first consumer died between commit and ack) `fn` is skipped and the
 * stored result is returned. If `fn` throws, nothing is recorded and the message can be retried.
 * Two concurrent deliveries of one message serialise on the primary key: the second waits for
 * the first to commit, then sees the duplicate.
 */
@Injectable()
export class InboxService {
  constructor(private readonly dataSource: DataSource) {}

  async runOnce<T>(messageId: string, pattern: string, fn: (manager: EntityManager) => Promise<T>): Promise<InboxOutcome<T>> {
    return this.dataSource.transaction(async (manager) => {
      const table = manager.connection.getMetadata(InboxMessage).tablePath;
      const inserted: unknown[] = await manager.query(
        `INSERT INTO ${table.split('.').map((p) => `"${p}"`).join('.')} ("id", "pattern") VALUES ($1, $2) ON CONFLICT ("id") DO NOTHING RETURNING "id"`,
        [messageId, pattern],
      );
      if (inserted.length === 0) {
        const row = await manager.findOneByOrFail(InboxMessage, { id: messageId });
        return { duplicate: true as const, result: row.result as T };
      }
      const result = await fn(manager);
      await manager.update(InboxMessage, { id: messageId }, { result: (result ?? null) as never });
      return { duplicate: false as const, result };
    });
  }
}
