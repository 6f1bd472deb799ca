import { z } from 'zod';
import { baseConfigShape, ConfigError, loadConfig, parseConfigFile, port } from './config.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const schema = z.object({ ...baseConfigShape, KUMO_IDENTITY_PORT: port(5000) });
const good = { KUMO_DATABASE_URL: 'postgres://u:p@127.0.0.1/kumo', KUMO_AMQP_URL: 'amqp://u:p@127.0.0.1/kumo' };

describe('loadConfig', () => {
  it('applies defaults and coerces numbers', () => {
    const c = loadConfig('identity', schema, { env: { ...good, KUMO_IDENTITY_PORT: '5001' } });
    expect(c.KUMO_IDENTITY_PORT).toBe(5001);
    expect(c.KUMO_LOG_LEVEL).toBe('info');
    expect(c.KUMO_HTTP_BODY_LIMIT).toBe(114688);
  });

  it('names every wrong variable and hides passwords', () => {
    let error: unknown;
    try {
      loadConfig('identity', schema, { env: { KUMO_DATABASE_URL: 'mysql://root:hunter2@db/x', KUMO_IDENTITY_PORT: '70000' } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const msg = (error as Error).message;
    expect(msg).toContain('kumo-identity: invalid configuration, not starting');
    expect(msg).toMatch(/KUMO_DATABASE_URL: must be a postgres or postgresql URL/);
    expect(msg).toMatch(/KUMO_AMQP_URL: .*\(not set\)/);
    expect(msg).toMatch(/KUMO_IDENTITY_PORT: must be an integer between 1 and 65535 \(0 picks a free port\) \(got "70000"\)/);
    expect(msg).not.toContain('hunter2');
  });

  it('parses byte sizes', () => {
    expect(loadConfig('x', schema, { env: { ...good, KUMO_HTTP_BODY_LIMIT: '2mib' } }).KUMO_HTTP_BODY_LIMIT).toBe(2 * 1048576);
    expect(() => loadConfig('x', schema, { env: { ...good, KUMO_HTTP_BODY_LIMIT: 'lots' } })).toThrow(/KUMO_HTTP_BODY_LIMIT: must be a byte size/);
  });

  it('reads a KEY=VALUE file named by KUMO_CONFIG_FILE; the environment wins', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kumo-cfg-'));
    const file = join(dir, 'kumo.env');
    writeFileSync(file, `# comment\nexport KUMO_DATABASE_URL="${good.KUMO_DATABASE_URL}"\nKUMO_AMQP_URL=${good.KUMO_AMQP_URL}\nKUMO_IDENTITY_PORT=6000\n`);
    const c = loadConfig('identity', schema, { env: { KUMO_CONFIG_FILE: file, KUMO_IDENTITY_PORT: '6001' } });
    expect(c.KUMO_DATABASE_URL).toBe(good.KUMO_DATABASE_URL);
    expect(c.KUMO_IDENTITY_PORT).toBe(6001);
  });

  it('reports an unreadable or malformed config file as a configuration error', () => {
    expect(() => loadConfig('x', schema, { env: { KUMO_CONFIG_FILE: '/nonexistent/kumo.env' } })).toThrow(/KUMO_CONFIG_FILE: cannot read the file/);
    expect(() => parseConfigFile('a.env', 'just words')).toThrow(/a.env:1: expected KEY=VALUE/);
  });
});
