import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { AmqpConnection, AmqpRpcTransport } from '../src/index.js';
const PKG = join(__dirname, '..');
/** Starts the fixture service in a child process (so it can die like a real crash). */
export function spawnFixture(env, args = []) {
    const child = spawn(process.execPath, ['--import', '@swc-node/register/esm-register', 'test/fixtures/run-fixture.ts', ...args], {
        cwd: PKG,
        env: { ...process.env, SWC_NODE_PROJECT: join(PKG, 'tsconfig.json'), KUMO_LOG_LEVEL: 'info', KUMO_BIND_HOST: '127.0.0.1', KUMO_AMQP_RECONNECT_S: '0.5', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    return Object.assign(child, { output: () => out });
}
export function exited(child) {
    if (child.exitCode !== null || child.signalCode !== null)
        return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
    return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}
/** A bare RPC client, as another service would hold one. */
export function testClient(url, name = 'test-client') {
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
//# sourceMappingURL=helpers.js.map