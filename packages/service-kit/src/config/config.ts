import { readFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * Configuration comes from the process environment, optionally completed by a file named in
 * KUMO_CONFIG_FILE (KEY=VALUE lines, or a JSON object). The environment wins over the file.
 * It is validated once at start-up; a wrong value stops the process with a message naming the
 * variable (see ConfigError), never later with a confusing runtime error.
 */

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function urlWithScheme(schemes: string[], example: string) {
  return z.string().refine(
    (value) => {
      try {
        return schemes.includes(new URL(value).protocol.replace(/:$/, ''));
      } catch {
        return false;
      }
    },
    { message: `must be a ${schemes.join(' or ')} URL, e.g. ${example}` },
  );
}

const PORT_MESSAGE = 'must be an integer between 1 and 65535 (0 picks a free port)';
export const port = (fallback: number) => z.coerce.number({ message: PORT_MESSAGE }).int(PORT_MESSAGE).min(0, PORT_MESSAGE).max(65535, PORT_MESSAGE).default(fallback);

const SIZE_RE = /^(\d+)\s*(b|kb|kib|mb|mib|gb|gib)?$/i;
const UNITS: Record<string, number> = { b: 1, kb: 1000, kib: 1024, mb: 1e6, mib: 1048576, gb: 1e9, gib: 1073741824 };

/** A byte size such as `114688`, `512kib` or `1mb`. */
export const byteSize = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      const m = SIZE_RE.exec(value.trim());
      if (!m) {
        ctx.addIssue({ code: 'custom', message: 'must be a byte size such as 114688, 512kib or 1mb' });
        return z.NEVER;
      }
      return Number(m[1]) * UNITS[(m[2] ?? 'b').toLowerCase()]!;
    });

export const baseConfigShape = {
  KUMO_DATABASE_URL: urlWithScheme(['postgres', 'postgresql'], 'postgres://kumo:secret@127.0.0.1:5432/kumo'),
  KUMO_AMQP_URL: urlWithScheme(['amqp', 'amqps'], 'amqp://kumo:secret@127.0.0.1:5672/kumo'),
  /** Database connections each service process keeps at most. */
  KUMO_DB_POOL_SIZE: z.coerce.number().int().min(1).max(500).default(10),
  /**
   * How long a request waits for a free database connection before it is answered 503. A burst
   * (200 boots at once) queues behind transactions that wait on row locks; 30 s is oslo.db's
   * pool_timeout, what Nova's services wait.
   */
  KUMO_DB_POOL_TIMEOUT_S: z.coerce.number().min(0.1).max(600).default(30),
  KUMO_LOG_LEVEL: z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  /** Address the HTTP API binds to. */
  KUMO_BIND_HOST: z.string().min(1).default('0.0.0.0'),
  /** Largest accepted request body; bigger bodies get 413 in the API's error shape. */
  KUMO_HTTP_BODY_LIMIT: byteSize('114688'),
  /** Default deadline of an RPC to another service. */
  KUMO_RPC_TIMEOUT_MS: z.coerce.number().int().min(10, 'must be at least 10 (milliseconds)').default(30000),
  /** Unacknowledged messages a consumer may hold at once. */
  KUMO_AMQP_PREFETCH: z.coerce.number().int().min(1).max(1000).default(16),
  KUMO_AMQP_HEARTBEAT_S: z.coerce.number().int().min(1).default(10),
  KUMO_AMQP_RECONNECT_S: z.coerce.number().min(0.1).default(1),
  /** Where services fetch identity's token-signing public keys (`/.well-known/jwks.json`). */
  KUMO_IDENTITY_URL: urlWithScheme(['http', 'https'], 'http://127.0.0.1:5000').default('http://127.0.0.1:5000'),
  /** `iss` of Kumo tokens. */
  KUMO_TOKEN_ISSUER: z.string().min(1).default('kumo'),
  /** Optional JSON file of policy rule overrides (oslo.policy syntax). */
  KUMO_POLICY_FILE: z.string().optional(),
};

export const baseConfigSchema = z.object(baseConfigShape);
export type BaseConfig = z.infer<typeof baseConfigSchema>;

export class ConfigError extends Error {
  constructor(
    readonly service: string,
    readonly problems: { variable: string; message: string; got?: string }[],
    readonly file?: string,
  ) {
    const lines = problems.map((p) => `  ${p.variable}: ${p.message}${p.got === undefined ? ' (not set)' : ` (got ${p.got})`}`);
    super(
      `kumo-${service}: invalid configuration, not starting:\n${lines.join('\n')}\n` +
        `Set ${problems.length > 1 ? 'these variables' : 'this variable'} in the environment` +
        (file ? ` or in ${file} (KUMO_CONFIG_FILE).` : ' or in a file named by KUMO_CONFIG_FILE.'),
    );
    this.name = 'ConfigError';
  }
}

/** Parses `KEY=VALUE` lines (comments with #, optional `export `, optional quotes) or a JSON object. */
export function parseConfigFile(path: string, text: string): Record<string, string> {
  if (path.endsWith('.json')) {
    const parsed: unknown = JSON.parse(text);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new Error(`${path}: expected a JSON object of KEY: value`);
    }
    return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, String(v)]));
  }
  const out: Record<string, string> = {};
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new Error(`${path}:${i + 1}: expected KEY=VALUE, got ${JSON.stringify(line)}`);
    let value = m[2]!;
    if ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'"))) {
      value = value.slice(1, -1);
    }
    out[m[1]!] = value;
  });
  return out;
}

const SECRET_KEY = /PASSWORD|SECRET|TOKEN|KEY$/i;

/** What a value looks like in an error message, without leaking credentials. */
function shown(variable: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (SECRET_KEY.test(variable)) return '"***"';
  const text = String(value);
  try {
    const url = new URL(text);
    if (url.password) url.password = '***';
    return JSON.stringify(url.toString());
  } catch {
    return JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);
  }
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
}

/**
 * Validates the configuration of `service` against `schema` (which should extend baseConfigShape).
 * Throws ConfigError naming every wrong or missing variable.
 */
export function loadConfig<S extends z.ZodObject>(service: string, schema: S, options: LoadConfigOptions = {}): z.infer<S> {
  const env = options.env ?? process.env;
  const file = env.KUMO_CONFIG_FILE;
  let fromFile: Record<string, string> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(service, [{ variable: 'KUMO_CONFIG_FILE', message: `cannot read the file: ${(err as Error).message}`, got: JSON.stringify(file) }], file);
    }
    try {
      fromFile = parseConfigFile(file, text);
    } catch (err) {
      throw new ConfigError(service, [{ variable: 'KUMO_CONFIG_FILE', message: (err as Error).message, got: JSON.stringify(file) }], file);
    }
  }
  const merged: Record<string, string | undefined> = { ...fromFile };
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') merged[k] = v;
  const result = schema.safeParse(merged);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const variable = String(issue.path[0] ?? '(root)');
    return { variable, message: issue.message, got: shown(variable, merged[variable]) };
  });
  throw new ConfigError(service, problems, file);
}
