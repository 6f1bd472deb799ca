import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Stack } from './stack';

const execFileP = promisify(execFile);

/**
 * The README's first command, as a new user runs it: ./kumo up brings every service to healthy
 * and prints the OS_* exports; status shows them; discovery documents answer; a second up
 * changes nothing; down leaves no process behind.
 */
describe('./kumo up / status / down', () => {
  const stack = new Stack(20000);
  let up: { code: number | null; output: string };

  beforeAll(async () => {
    up = await stack.kumo(['up']);
  }, 600_000);

  afterAll(async () => {
    await stack.destroy();
  }, 120_000);

  it('brings the whole stack up and prints URLs, credentials and OS_* exports', () => {
    if (up.code !== 0) throw new Error(`./kumo up failed (exit ${up.code}):\n${up.output}`);
    expect(up.output).toMatch(/\[\d+\/\d+\] waiting until every service is healthy .*all healthy/);
    expect(up.output).toContain(`export OS_AUTH_URL=http://127.0.0.1:${stack.port(5000)}/v3`);
    expect(up.output).toMatch(/export OS_PASSWORD=\S{16,}/);
    expect(up.output).toContain(`Dashboard   http://127.0.0.1:${stack.port(3000)}/`);
    // Its own broker user and database role: another instance's `up` must not reset a shared password.
    const env = readFileSync(join(stack.state, 'kumo.env'), 'utf8');
    expect(env).toContain(`KUMO_AMQP_URL=amqp://kumo-${stack.instance}:`);
    expect(env).toContain(`KUMO_DATABASE_URL=postgres://kumo_${stack.instance}:`);
  });

  it('lets the real openstack CLI log in with the printed exports', async () => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
    for (const m of up.output.matchAll(/^\s*export (OS_[A-Z_]+)=(.*)$/gm)) env[m[1]!] = m[2]!;
    expect(env.OS_PASSWORD).toBeDefined();
    const { stdout } = await execFileP('/usr/bin/openstack', ['token', 'issue', '-f', 'json'], { env, timeout: 60_000 });
    const token = JSON.parse(stdout);
    expect(token.id).toMatch(/^ey/);
    expect(token.project_id).toMatch(/^[0-9a-f]{32}$/);
    const catalog = JSON.parse((await execFileP('/usr/bin/openstack', ['catalog', 'list', '-f', 'json'], { env, timeout: 60_000 })).stdout);
    expect(catalog.map((c: { Type: string }) => c.Type).sort()).toEqual(['compute', 'identity', 'image', 'network', 'volumev3']);
  }, 120_000);

  it('serves every discovery document', async () => {
    const v3 = await fetch(`http://127.0.0.1:${stack.port(5000)}/v3`);
    expect(v3.status).toBe(200);
    expect((await v3.json()).version).toMatchObject({ id: 'v3.14', status: 'stable' });
    const root = await fetch(`http://127.0.0.1:${stack.port(5000)}/`);
    expect(root.status).toBe(300);

    const nova = await fetch(`http://127.0.0.1:${stack.port(8774)}/v2.1`);
    expect(nova.status).toBe(200);
    expect(nova.headers.get('openstack-api-version')).toBe('compute 2.1');
    // The advertised maximum is the compute API's own constant (it moves as microversions land).
    const maxMicroversion = /MAX_MICROVERSION = '(2\.\d+)'/.exec(readFileSync(join(__dirname, '../../services/compute/src/versions/microversion.ts'), 'utf8'))?.[1];
    expect(maxMicroversion).toMatch(/^2\.\d+$/);
    expect((await nova.json()).version).toMatchObject({ id: 'v2.1', version: maxMicroversion, min_version: '2.1', links: [{ rel: 'self', href: `http://127.0.0.1:${stack.port(8774)}/v2.1/` }] });

    const glance = await fetch(`http://127.0.0.1:${stack.port(9292)}/`);
    expect(glance.status).toBe(300);
    expect((await glance.json()).versions[0]).toMatchObject({ status: 'CURRENT' });

    const neutron = await fetch(`http://127.0.0.1:${stack.port(9696)}/`);
    expect((await neutron.json()).versions[0]).toMatchObject({ id: 'v2.0', status: 'CURRENT' });

    const cinder = await fetch(`http://127.0.0.1:${stack.port(8776)}/`);
    expect(cinder.status).toBe(300);
    expect((await cinder.json()).versions[0]).toMatchObject({ id: 'v3.0' });
  });

  it('shows every service healthy in status and on the dashboard', async () => {
    const status = await stack.kumo(['status']);
    expect(status.code).toBe(0);
    for (const name of ['identity', 'image', 'network', 'volume', 'compute', 'dashboard']) {
      expect(status.output).toMatch(new RegExp(`^${name}\\s+\\d+\\s+\\d+\\s+\\S*healthy`, 'm'));
    }
    const page = await (await fetch(`http://127.0.0.1:${stack.port(3000)}/`)).text();
    expect(page).toMatch(/5<!-- --> of <!-- -->5<!-- --> services healthy/);
  });

  it('changes nothing on a second up', async () => {
    const before = stack.processes().sort();
    const again = await stack.kumo(['up']);
    expect(again.code).toBe(0);
    expect(again.output).toMatch(/starting services .*already running/);
    expect(stack.processes().sort()).toEqual(before);
  }, 300_000);

  it('stops everything on down and leaves no process behind', async () => {
    expect(stack.processes().length).toBeGreaterThanOrEqual(6);
    const down = await stack.kumo(['down']);
    expect(down.code).toBe(0);
    expect(down.output).toMatch(/stopped 7 Kumo process/);
    expect(stack.processes()).toEqual([]);
    await expect(fetch(`http://127.0.0.1:${stack.port(5000)}/v3`)).rejects.toThrow();
  }, 120_000);
});
