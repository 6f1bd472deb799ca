import { ApiError, type AuthContext } from '@kumo/service-kit';
import { type HttpCall, NetworkApi, NetworkApiError } from './network-api.js';
import { SecurityGroupsService } from './security-groups.service.js';

const auth = { token: 'tok', projectId: 'p1', userId: 'u1', roles: ['member', 'reader'] } as unknown as AuthContext;
const G = '0b0e8c3a-5a1e-4b39-9f8e-3d6f1c2a9e11';

/** A NetworkApi whose HTTP calls answer from a table of `METHOD path` → [status, body]. */
function api(routes: Record<string, [number, unknown] | Error>, calls: string[] = []): NetworkApi {
  const a = new NetworkApi({ KUMO_NETWORK_URL: 'http://net.example:9696/' });
  const http: HttpCall = async (url, init) => {
    const key = `${init.method} ${url.replace('http://net.example:9696/v2.0', '')}`;
    calls.push(init.body ? `${key} ${init.body}` : key);
    if (init.headers['x-auth-token'] !== 'tok') throw new Error('token not passed');
    const r = routes[key];
    if (r instanceof Error) throw r;
    if (!r) return { status: 404, text: JSON.stringify({ NeutronError: { type: 'HTTPNotFound', message: 'no route', detail: '' } }) };
    return { status: r[0], text: r[1] === undefined ? '' : JSON.stringify(r[1]) };
  };
  a.http = http;
  return a;
}

const refused = () => Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });

describe('NetworkApi', () => {
  it('answers 503 without a configured URL', async () => {
    const a = new NetworkApi({});
    expect(a.configured).toBe(false);
    await expect(a.listGroups('tok')).rejects.toMatchObject({ status: 503, message: expect.stringMatching(/KUMO_NETWORK_URL/) });
  });

  it('turns an unreachable service and 5xx answers into 503s that say what happened', async () => {
    await expect(api({ 'GET /security-groups': refused() }).listGroups('tok')).rejects.toMatchObject({ status: 503, message: expect.stringMatching(/unreachable \(ECONNREFUSED\)/) });
    const err = await api({ 'GET /security-groups': [500, { NeutronError: { type: 'HTTPInternalServerError', message: 'boom' } }] }).listGroups('tok').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 503, message: expect.stringMatching(/HTTP 500: boom/) });
  });

  it('keeps Neutron 4xx errors with their type for the caller to map', async () => {
    const err = await api({ [`GET /security-groups/${G}`]: [404, { NeutronError: { type: 'SecurityGroupNotFound', message: 'nope' } }] }).getGroup('tok', G).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkApiError);
    expect(err).toMatchObject({ status: 404, type: 'SecurityGroupNotFound' });
  });
});

describe('SecurityGroupsService (Nova semantics over Neutron)', () => {
  const neutronGroup = { id: G, name: 'web', description: 'd', project_id: 'p1', security_group_rules: [] };

  it('maps Neutron conflicts on delete to 400 and a missing group to 404 itemNotFound', async () => {
    const svc = new SecurityGroupsService(api({ [`GET /security-groups/${G}`]: [200, { security_group: neutronGroup }], [`DELETE /security-groups/${G}`]: [409, { NeutronError: { type: 'SecurityGroupInUse', message: 'in use' } }] }));
    await expect(svc.remove(auth, G)).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/cannot be deleted: in use/) });
    await expect(new SecurityGroupsService(api({})).show(auth, G)).rejects.toMatchObject({ status: 404, message: `Security group ${G} not found.` });
    await expect(new SecurityGroupsService(api({})).show(auth, 'abc')).rejects.toMatchObject({ status: 400 });
  });

  it('converts rules: ingress only, default port ranges, remote groups', () => {
    const svc = new SecurityGroupsService(api({}));
    const rules = [
      { id: 'r1', security_group_id: G, direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: null, port_range_max: null, remote_ip_prefix: null, remote_group_id: null },
      { id: 'r2', security_group_id: G, direction: 'ingress', ethertype: 'IPv4', protocol: 'icmp', port_range_min: null, port_range_max: null, remote_ip_prefix: '10.0.0.0/8', remote_group_id: null },
      { id: 'r3', security_group_id: G, direction: 'ingress', ethertype: 'IPv4', protocol: null, port_range_min: null, port_range_max: null, remote_ip_prefix: null, remote_group_id: G },
      { id: 'r4', security_group_id: G, direction: 'egress', ethertype: 'IPv4', protocol: null, port_range_min: null, port_range_max: null, remote_ip_prefix: null, remote_group_id: null },
    ];
    const g = { ...neutronGroup, security_group_rules: rules };
    expect(svc.novaGroup(g, new Map([[G, g]])).rules).toEqual([
      { id: 'r1', parent_group_id: G, ip_protocol: 'tcp', from_port: 1, to_port: 65535, ip_range: { cidr: '0.0.0.0/0' }, group: {} },
      { id: 'r2', parent_group_id: G, ip_protocol: 'icmp', from_port: -1, to_port: -1, ip_range: { cidr: '10.0.0.0/8' }, group: {} },
      { id: 'r3', parent_group_id: G, ip_protocol: null, from_port: null, to_port: null, ip_range: {}, group: { name: 'web', tenant_id: 'p1' } },
    ]);
  });

  it('sends Nova rules to Neutron as ingress rules (ICMP -1 → no range)', async () => {
    const calls: string[] = [];
    const created = { id: 'r9', security_group_id: G, direction: 'ingress', ethertype: 'IPv6', protocol: 'icmp', port_range_min: null, port_range_max: null, remote_ip_prefix: '2001:db8::/32', remote_group_id: null };
    const svc = new SecurityGroupsService(api({ [`GET /security-groups/${G}`]: [200, { security_group: neutronGroup }], 'POST /security-group-rules': [201, { security_group_rule: created }] }, calls));
    const r = await svc.createRule(auth, { security_group_rule: { parent_group_id: G, ip_protocol: 'ICMP', from_port: -1, to_port: -1, cidr: '2001:db8::/32' } });
    expect(r).toMatchObject({ id: 'r9', ip_protocol: 'icmp', from_port: -1, to_port: -1, ip_range: { cidr: '2001:db8::/32' } });
    expect(JSON.parse(calls.find((x) => x.startsWith('POST'))!.split(' ').slice(2).join(' '))).toEqual({
      security_group_rule: { security_group_id: G, direction: 'ingress', ethertype: 'IPv6', protocol: 'icmp', port_range_min: null, port_range_max: null, remote_ip_prefix: '2001:db8::/32' },
    });
  });

  it('checks server create groups only when the network service is configured and answers', async () => {
    await expect(new SecurityGroupsService(new NetworkApi({})).checkForCreate(auth, ['nope'])).resolves.toBeUndefined();
    await expect(new SecurityGroupsService(api({ 'GET /security-groups?name=nope&project_id=p1': refused() })).checkForCreate(auth, ['nope'])).resolves.toBeUndefined();
    await expect(new SecurityGroupsService(api({ 'GET /security-groups?name=nope&project_id=p1': [200, { security_groups: [] }] })).checkForCreate(auth, ['default', 'nope'])).rejects.toMatchObject({
      status: 400,
      message: 'Security group nope not found for project p1.',
    });
  });

  it('addSecurityGroup appends the group to every port of the server', async () => {
    const calls: string[] = [];
    const svc = new SecurityGroupsService(
      api(
        {
          'GET /security-groups?name=web&project_id=p1': [200, { security_groups: [neutronGroup] }],
          'GET /ports?device_id=s1': [200, { ports: [{ id: 'port1', device_id: 's1', security_groups: ['dflt'] }] }],
          'PUT /ports/port1': [200, { port: {} }],
        },
        calls,
      ),
    );
    await svc.addToServer(auth, 's1', 'web');
    expect(calls).toContain(`PUT /ports/port1 ${JSON.stringify({ port: { security_groups: ['dflt', G] } })}`);
    await expect(svc.removeFromServer(auth, 's1', 'web')).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/not associated/) });
  });
});
