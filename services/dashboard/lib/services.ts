import { readFileSync } from 'node:fs';

export interface ServiceInfo {
  name: string;
  title: string;
  url: string;
}

const SERVICES: [string, string, number][] = [
  ['identity', 'Identity (Keystone v3)', 5000],
  ['compute', 'Compute (Nova v2.1)', 8774],
  ['image', 'Image (Glance v2)', 9292],
  ['network', 'Network (Neutron v2.0)', 9696],
  ['volume', 'Block storage (Cinder v3)', 8776],
];

/**
 * Where the services are: the environment, completed by the file ./kumo writes (KUMO_CONFIG_FILE),
 * so the dashboard reaches the services on the ports of this stack.
 */
function settings(): Record<string, string | undefined> {
  const merged: Record<string, string | undefined> = {};
  const file = process.env.KUMO_CONFIG_FILE;
  if (file) {
    try {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
        if (m) merged[m[1]!] = m[2];
      }
    } catch {
      // An unreadable file leaves the defaults; the page then shows services as unreachable.
    }
  }
  return { ...merged, ...process.env };
}

export function services(): ServiceInfo[] {
  const env = settings();
  return SERVICES.map(([name, title, port]) => ({
    name,
    title,
    url: `http://127.0.0.1:${env[`KUMO_${name.toUpperCase()}_PORT`] ?? port}`,
  }));
}

export interface Health {
  status: 'healthy' | 'unhealthy' | 'unreachable';
  detail: string;
  ms: number;
}

/** GET /healthz of a service (database + broker), bounded so a hung service cannot hang the page. */
export async function health(service: ServiceInfo, timeoutMs = 2000): Promise<Health> {
  const started = Date.now();
  try {
    const res = await fetch(`${service.url}/healthz`, { signal: AbortSignal.timeout(timeoutMs), cache: 'no-store' });
    const body = (await res.json().catch(() => ({}))) as { details?: Record<string, { status: string; message?: string }> };
    const parts = Object.entries(body.details ?? {}).map(([k, v]) => `${k} ${v.status}${v.message ? ` (${v.message})` : ''}`);
    return { status: res.ok ? 'healthy' : 'unhealthy', detail: parts.join(', ') || `HTTP ${res.status}`, ms: Date.now() - started };
  } catch (err) {
    return { status: 'unreachable', detail: (err as Error).name === 'TimeoutError' ? `no answer in ${timeoutMs} ms` : 'connection refused', ms: Date.now() - started };
  }
}
