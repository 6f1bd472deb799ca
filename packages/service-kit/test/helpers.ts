import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { transformFileSync } from '@swc/core';
import { AmqpConnection, AmqpRpcTransport } from '../src/index.js';

const PKG = join(__dirname, '..');
const FIXTURES = join(PKG, 'test', 'fixtures');
const BUILD = join(FIXTURES, '.build');
let compiled = false;

/**
 * Compiles the fixture service to plain ESM next to the sources (so `@kumo/service-kit` resolves
 * to the built package): a child process then starts as fast as a real service, instead of
 * paying for a TypeScript loader hook, which under load took longer than the tests' budgets.
 */
function compileFixtures(): string {
  if (!compiled) {
    if (!existsSync(join(PKG, 'dist', 'index.js'))) throw new Error('packages/service-kit is not built: run `pnpm turbo run build` (./kumo test does) before these tests');
    mkdirSync(BUILD, { recursive: true });
    for (const name of ['definitions', 'run-fixture']) {
      const { code } = transformFileSync(join(FIXTURES, `${name}.ts`), {
        jsc: { target: 'es2022', parser: { syntax: 'typescript', decorators: true }, transform: { legacyDecorator: true, decoratorMetadata: true } },
        module: { type: 'es6' },
      });
      writeFileSync(join(BUILD, `${name}.mjs`), code.replace(/from '\.\/definitions\.js'/g, "from './definitions.mjs'"));
    }
    compiled = true;
  }
  return join(BUILD, 'run-fixture.mjs');
}

/** Starts the fixture service in a child process (so it can die like a real crash). */
export function spawnFixture(env: Record<string, string>, args: string[] = []): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, [compileFixtures(), ...args], {
    cwd: PKG,
    env: { ...process.env, KUMO_LOG_LEVEL: 'info', KUMO_BIND_HOST: '127.0.0.1', KUMO_AMQP_RECONNECT_S: '0.5', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return Object.assign(child, { output: () => out });
}

export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** A bare RPC client, as another service would hold one. */
export function testClient(url: string, name = 'test-client') {
  const connection = new AmqpConnection({ url, name, heartbeatSeconds: 5, reconnectSeconds: 0.5 }).connect();
  const transport = new AmqpRpcTransport(connection, 'test', 5000);
  return {
    connection,
    transport,
    async close() {
      await transport.close();
      await connection.close();
    },
  };
}
