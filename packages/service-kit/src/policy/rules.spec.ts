import { ApiError } from '../errors/api-error.js';
import type { AuthContext } from '../auth/claims.js';
import { parseRule } from './rules.js';
import { PolicyService } from './policy.service.js';

const auth = (over: Partial<AuthContext>): AuthContext => ({
  token: 't',
  auditId: 'a',
  auditIds: ['a'],
  userId: 'u1',
  userDomainId: 'default',
  system: false,
  roles: ['member', 'reader'],
  methods: ['password'],
  issuedAt: new Date(),
  expiresAt: new Date(),
  projectId: 'p1',
  ...over,
});

describe('policy rules', () => {
  const policy = new PolicyService('nova', {
    'compute:servers:show': 'rule:admin_or_reader',
    'compute:servers:create': 'rule:admin_or_member',
    'compute:hosts': 'rule:admin_required',
    'tricky': '(role:member or role:auditor) and not user_id:%(target.blocked_user)s',
    'nobody': '!',
    'everybody': '@',
  });

  it('lets project members act in their own project only', () => {
    expect(policy.allows('compute:servers:create', auth({}), { project_id: 'p1' })).toBe(true);
    expect(policy.allows('compute:servers:create', auth({}), { project_id: 'p2' })).toBe(false);
    expect(policy.allows('compute:servers:create', auth({ roles: ['reader'] }), { project_id: 'p1' })).toBe(false);
    expect(policy.allows('compute:servers:show', auth({ roles: ['reader'] }), { project_id: 'p1' })).toBe(true);
  });

  it('treats the admin role as cloud admin, across projects', () => {
    expect(policy.allows('compute:servers:show', auth({ roles: ['admin', 'member', 'reader'] }), { project_id: 'p9' })).toBe(true);
    expect(policy.allows('compute:hosts', auth({ roles: ['member'] }))).toBe(false);
  });

  it('supports and/or/not, parentheses, @ and !', () => {
    expect(policy.allows('tricky', auth({}), { blocked_user: 'u2' })).toBe(true);
    expect(policy.allows('tricky', auth({}), { blocked_user: 'u1' })).toBe(false);
    expect(policy.allows('nobody', auth({ roles: ['admin'] }))).toBe(false);
    expect(policy.allows('everybody', auth({ roles: [] }))).toBe(true);
  });

  it('denies unknown actions and a target attribute that is missing', () => {
    expect(policy.allows('compute:unknown', auth({ roles: ['admin'] }))).toBe(false);
    expect(policy.allows('compute:servers:create', auth({}), {})).toBe(false);
  });

  it('throws 403 worded as each family words it', () => {
    expect(() => policy.enforce('compute:hosts', auth({}))).toThrow("Policy doesn't allow compute:hosts to be performed.");
    const neutron = new PolicyService('neutron', { get_network: 'rule:admin_or_owner' });
    try {
      neutron.enforce('get_network', auth({}), { project_id: 'other' });
      fail('expected a refusal');
    } catch (err) {
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).status).toBe(403);
      expect((err as ApiError).options.type).toBe('PolicyNotAuthorized');
    }
  });

  it('refuses malformed rules with a message naming the rule', () => {
    expect(() => parseRule('role:admin and')).toThrow(/invalid policy rule "role:admin and": unexpected end/);
    expect(() => parseRule('(role:admin')).toThrow(/missing \)/);
    expect(() => parseRule('admin')).toThrow(/expected KEY:VALUE/);
  });
});
