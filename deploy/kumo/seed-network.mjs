#!/usr/bin/env node
// Seeds what a new cloud's users expect of Neutron: an external network `public` (flat, physical
// network `public`) with the IPv4 subnet `public-subnet`, owned by the admin project, for router
// gateways and floating IPs (Tempest's public_network_id, `openstack floating ip create public`).
// Idempotent: an existing `public` network is kept as it is. Prints the network id.
//
// Env: KUMO_IDENTITY_URL, KUMO_NETWORK_URL, KUMO_ADMIN_PASSWORD; optional KUMO_PUBLIC_CIDR
// (default 172.24.4.0/24), KUMO_PUBLIC_POOL (default 172.24.4.10-172.24.4.250).
const identity = process.env.KUMO_IDENTITY_URL;
const network = process.env.KUMO_NETWORK_URL;
const password = process.env.KUMO_ADMIN_PASSWORD;
if (!identity || !network || !password) {
  console.error('seed-network: KUMO_IDENTITY_URL, KUMO_NETWORK_URL and KUMO_ADMIN_PASSWORD must be set');
  process.exit(2);
}
const cidr = process.env.KUMO_PUBLIC_CIDR ?? '172.24.4.0/24';
const [poolStart, poolEnd] = (process.env.KUMO_PUBLIC_POOL ?? '172.24.4.10-172.24.4.250').split('-');

const auth = await fetch(`${identity.replace(/\/v3\/?$/, '')}/v3/auth/tokens`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({
    auth: {
      identity: { methods: ['password'], password: { user: { name: 'admin', domain: { id: 'default' }, password } } },
      scope: { project: { name: 'admin', domain: { id: 'default' } } },
    },
  }),
});
if (auth.status !== 201) {
  console.error(`seed-network: admin login failed: ${auth.status} ${await auth.text()}`);
  process.exit(1);
}
const token = auth.headers.get('x-subject-token');

async function call(method, path, body) {
  const res = await fetch(`${network}${path}`, { method, headers: { 'x-auth-token': token, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
  const json = await res.json().catch(() => undefined);
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

const found = (await call('GET', '/v2.0/networks?name=public&router:external=true')).networks;
if (found.length) {
  console.log(`public network ${found[0].id} (already there)`);
  process.exit(0);
}
const net = (await call('POST', '/v2.0/networks', { network: { name: 'public', 'router:external': true, 'provider:network_type': 'flat', 'provider:physical_network': 'public' } })).network;
await call('POST', '/v2.0/subnets', {
  subnet: { name: 'public-subnet', network_id: net.id, ip_version: 4, cidr, enable_dhcp: false, allocation_pools: [{ start: poolStart, end: poolEnd }] },
});
console.log(`public network ${net.id} (created, subnet ${cidr})`);
