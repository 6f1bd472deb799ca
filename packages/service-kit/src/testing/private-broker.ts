import { execFile, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { waitUntil } from './wait.js';

const run = promisify(execFile);

/**
 * A RabbitMQ node of its own (own node name, port, data dir) for tests that stop and start the
 * broker: stopping the machine's shared broker would break every other test running at the time.
 * Needs rabbitmq-server installed and root (the node runs as the rabbitmq user).
 */
export class PrivateBroker {
  readonly nodeName: string;
  readonly url: string;
  private readonly dir: string;

  constructor(readonly port: number) {
    this.nodeName = `kumotest${port}@localhost`;
    this.url = `amqp://guest:guest@127.0.0.1:${port}/`;
    this.dir = `/tmp/kumo-private-broker-${port}`;
  }

  private ctl(...args: string[]) {
    return run('rabbitmqctl', ['-q', '-n', this.nodeName, ...args], { timeout: 60000 });
  }

  async start(timeoutMs = 60000): Promise<void> {
    await this.ctl('stop').catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(`${this.dir}/mnesia`, { recursive: true });
    mkdirSync(`${this.dir}/log`, { recursive: true });
    writeFileSync(`${this.dir}/enabled_plugins`, '[].\n');
    // loopback_users = none: guest may connect (we only listen on 127.0.0.1 anyway).
    writeFileSync(`${this.dir}/rabbitmq.conf`, `listeners.tcp.local = 127.0.0.1:${this.port}\nloopback_users = none\n`);
    await run('chown', ['-R', 'rabbitmq:rabbitmq', this.dir]);
    const child = spawn('rabbitmq-server', ['-detached'], {
      env: {
        ...process.env,
        RABBITMQ_NODENAME: this.nodeName,
        RABBITMQ_DIST_PORT: String(this.port + 20000),
        RABBITMQ_CONFIG_FILE: `${this.dir}/rabbitmq.conf`,
        RABBITMQ_MNESIA_BASE: `${this.dir}/mnesia`,
        RABBITMQ_LOG_BASE: `${this.dir}/log`,
        RABBITMQ_ENABLED_PLUGINS_FILE: `${this.dir}/enabled_plugins`,
        RABBITMQ_PID_FILE: `${this.dir}/pid`,
      },
      stdio: 'ignore',
    });
    await new Promise((resolve) => child.on('exit', resolve));
    await waitUntil(`private RabbitMQ node ${this.nodeName} (logs in ${this.dir}/log)`, async () => {
      await this.ctl('await_startup');
      return true;
    }, { timeoutMs, intervalMs: 500 });
  }

  stopApp() {
    return this.ctl('stop_app');
  }

  startApp() {
    return this.ctl('start_app');
  }

  async stop(): Promise<void> {
    await this.ctl('stop').catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
