import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
export const ROOT = join(__dirname, '..', '..');

/**
 * A whole stack started by ./kumo with its own state directory, ports (offset) and database /
 * vhost (instance), so it can run beside a developer's stack and other tests.
 */
export class Stack {
  readonly state = mkdtempSync(join(tmpdir(), 'kumo-sys-'));
  readonly instance = `sys${process.pid}${Date.now().toString(36)}`;
  constructor(readonly offset: number) {}

  get env(): NodeJS.ProcessEnv {
    return { ...process.env, KUMO_STATE_DIR: this.state, KUMO_PORT_OFFSET: String(this.offset), KUMO_INSTANCE: this.instance, KUMO_BIND_HOST: '127.0.0.1', KUMO_NO_INSTALL: '1' };
  }

  port(base: number): number {
    return base + this.offset;
  }

  /** Runs `./kumo ARGS`; resolves with exit code and combined output (never rejects). */
  kumo(args: string[], timeoutMs = 300_000): Promise<{ code: number | null; output: string }> {
    return new Promise((resolve) => {
      const child = spawn(join(ROOT, 'kumo'), args, { cwd: ROOT, env: this.env });
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, output });
      });
    });
  }

  /** PIDs of processes started for this state directory (what `down` must leave none of). */
  processes(): number[] {
    const marker = `KUMO_STATE_DIR=${this.state}`;
    const pids: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(marker)) pids.push(Number(entry));
      } catch {
        // the process exited meanwhile
      }
    }
    return pids;
  }

  async destroy(): Promise<void> {
    await this.kumo(['down'], 60_000);
    const db = `kumo_${this.instance}`;
    await execFileP('runuser', ['-u', 'postgres', '--', 'psql', '-qc', `DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`]).catch(() => undefined);
    await execFileP('runuser', ['-u', 'postgres', '--', 'psql', '-qc', `DROP ROLE IF EXISTS "kumo_${this.instance}"`]).catch(() => undefined);
    await execFileP('rabbitmqctl', ['-q', 'delete_vhost', `kumo-${this.instance}`]).catch(() => undefined);
    await execFileP('rabbitmqctl', ['-q', 'delete_user', `kumo-${this.instance}`]).catch(() => undefined);
    rmSync(this.state, { recursive: true, force: true });
  }
}
