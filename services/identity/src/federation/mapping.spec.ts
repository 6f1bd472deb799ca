import { applyMapping, MappingError } from './mapping.js';

describe('federation mapping rules (Keystone format)', () => {
  const rules = [
    { remote: [{ type: 'OIDC-preferred_username' }, { type: 'email' }], local: [{ user: { name: '{0}', email: '{1}' } }] },
    { remote: [{ type: 'groups', any_one_of: ['admins'] }], local: [{ group: { name: 'cloud-admins', domain: { id: 'default' } } }] },
    { remote: [{ type: 'groups', regex: true, any_one_of: ['team-.*'] }], local: [{ projects: [{ name: 'teams', roles: [{ name: 'member' }] }] }] },
    { remote: [{ type: 'groups', not_any_of: ['contractors'] }, { type: 'realm_access.roles', any_one_of: ['auditor'] }], local: [{ projects: [{ name: 'audit', roles: [{ name: 'reader' }] }] }] },
  ];

  it('captures claims, applies every matching rule and merges their local parts', () => {
    const m = applyMapping(rules, { preferred_username: 'alice', email: 'a@x', groups: ['admins', 'team-red'], realm_access: { roles: ['auditor'] } });
    expect(m.user).toEqual({ name: 'alice', email: 'a@x' });
    expect(m.groups).toEqual([{ name: 'cloud-admins', domain: { id: 'default' } }]);
    expect(m.projects.map((p) => p.name)).toEqual(['teams', 'audit']);
  });

  it('skips rules whose conditions fail (any_one_of, regex, not_any_of)', () => {
    const m = applyMapping(rules, { preferred_username: 'bob', email: 'b@x', groups: ['contractors', 'team'], realm_access: { roles: ['auditor'] } });
    expect(m.groups).toEqual([]);
    expect(m.projects).toEqual([]);
  });

  it('refuses an identity no rule gives a user to, and malformed rules', () => {
    expect(() => applyMapping(rules, { groups: ['admins'] })).toThrow(MappingError);
    expect(() => applyMapping([{ remote: [], local: [] }], {})).toThrow(/no mapping rule matched/);
    expect(() => applyMapping('x', {})).toThrow(/non-empty list/);
    expect(() => applyMapping([{ remote: [{}], local: [] }], {})).toThrow(/"type"/);
    expect(() => applyMapping([{ remote: [{ type: 'sub' }], local: [{ user: { name: '{3}' } }] }], { sub: 'x' })).toThrow(/\{3\}/);
  });
});
