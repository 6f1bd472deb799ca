import type { Revocation } from '@kumo/contracts';
import { AmqpConnection, AmqpRpcTransport, dataSourceOptions } from '@kumo/service-kit';
import { DataSource } from 'typeorm';
import type { IdentityConfig } from '../config.js';
import { Db } from '../db/db.service.js';
import { persistRevocations } from '../revocation/revocations.js';
import { loadMasterKey, rotateKeys } from './key-store.js';
import { identityDatabase } from '../db/database.js';

/**
 * `node dist/main.js rotate-keys [--retire-all]` (what `./kumo keys rotate` runs). Makes a new
 * primary key; the old primary keeps verifying until the next rotation; keys older than that are
 * retired: removed from the JWKS and broadcast as `keyId` revocations so every service refuses
 * their tokens at once. `--retire-all` retires the old primary too (key compromise).
 */
export async function rotateKeysCommand(config: IdentityConfig, args: string[]): Promise<number> {
  const retireAll = args.includes('--retire-all');
  const ds = new DataSource(dataSourceOptions(config.KUMO_DATABASE_URL, 'identity', identityDatabase));
  await ds.initialize();
  const db = new Db(ds);
  let entries: Revocation[] = [];
  try {
    const result = await db.tx(async (sql) => {
      const r = await rotateKeys(sql, loadMasterKey(config), retireAll);
      entries = r.retired.map((keyId) => ({ keyId, expiresAt: Math.floor(Date.now() / 1000) + config.KUMO_TOKEN_TTL_S + 60 }));
      await persistRevocations(sql, entries);
      return r;
    });
    process.stdout.write(`new primary signing key: ${result.primary}\n`);
    if (result.demoted) process.stdout.write(`previous key (still verifies tokens until the next rotation): ${result.demoted}\n`);
    for (const k of result.retired) process.stdout.write(`retired key (its tokens are refused from now on): ${k}\n`);
    process.stdout.write('running identity processes pick the new key up within 5 seconds\n');
  } finally {
    await ds.destroy();
  }
  if (entries.length > 0) {
    const connection = new AmqpConnection({ url: config.KUMO_AMQP_URL, name: 'kumo-identity-rotate-keys', heartbeatSeconds: 10, reconnectSeconds: 1 }).connect();
    const transport = new AmqpRpcTransport(connection, 'identity', 10000);
    try {
      await transport.publish('identity.revoked', { revocations: entries }, { timeoutMs: 10000 });
      process.stdout.write(`broadcast ${entries.length} key revocation(s)\n`);
    } catch (err) {
      process.stderr.write(`warning: could not broadcast the key revocations (${(err as Error).message}); services learn them at their next revocation sync (at most 5 minutes)\n`);
    } finally {
      await transport.close();
      await connection.close();
    }
  }
  return 0;
}
