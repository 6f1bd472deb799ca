import { readFileSync } from 'node:fs';
import { Injectable, Logger } from '@nestjs/common';
import type { AuthContext } from '../auth/claims.js';
import { type ApiFamily, ApiError } from '../errors/api-error.js';
import { type Credentials, evaluate, parseRule, type Rule, type Target } from './rules.js';

/**
 * Rules every service shares. Like OpenStack's pre-"secure RBAC" defaults, a token with the
 * `admin` role is a cloud administrator; `member` and `reader` act within their project only.
 * Roles are effective roles (admin implies member implies reader), expanded by identity.
 */
export const BASE_POLICY: Record<string, string> = {
  admin_required: 'role:admin',
  system_admin: 'role:admin and system_scope:all',
  system_reader: 'role:reader and system_scope:all',
  owner: 'project_id:%(project_id)s',
  project_member: 'role:member and project_id:%(project_id)s',
  project_reader: 'role:reader and project_id:%(project_id)s',
  admin_or_owner: 'rule:admin_required or rule:owner',
  admin_or_member: 'rule:admin_required or rule:project_member',
  admin_or_reader: 'rule:admin_required or rule:project_reader',
};

export function credentialsOf(auth: AuthContext): Credentials {
  return {
    roles: auth.roles,
    user_id: auth.userId,
    project_id: auth.projectId,
    domain_id: auth.domainId,
    user_domain_id: auth.userDomainId,
    project_domain_id: auth.projectDomainId,
    system_scope: auth.system ? 'all' : undefined,
    is_admin: auth.roles.includes('admin'),
  };
}

/**
 * Decides whether a caller may perform an action. Defaults come from the service (and
 * BASE_POLICY); an operator's JSON policy file (KUMO_POLICY_FILE) overrides any rule by name.
 */
@Injectable()
export class PolicyService {
  private readonly rules = new Map<string, Rule>();
  private readonly log = new Logger('policy');

  constructor(
    private readonly family: ApiFamily,
    defaults: Record<string, string>,
    overridesFile?: string,
  ) {
    const merged: Record<string, string> = { ...BASE_POLICY, ...defaults };
    if (overridesFile) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(readFileSync(overridesFile, 'utf8'));
      } catch (err) {
        throw new Error(`cannot read the policy file ${overridesFile} (KUMO_POLICY_FILE): ${(err as Error).message}`, { cause: err });
      }
      for (const [name, text] of Object.entries(parsed as Record<string, unknown>)) {
        if (typeof text !== 'string') throw new Error(`policy file ${overridesFile}: rule ${name} must be a string`);
        merged[name] = text;
      }
      this.log.log(`loaded ${Object.keys(parsed as object).length} rule override(s) from ${overridesFile}`);
    }
    for (const [name, text] of Object.entries(merged)) this.rules.set(name, parseRule(text));
  }

  /** True when `auth` may perform `action` on `target`. Unknown actions are denied. */
  allows(action: string, auth: AuthContext, target: Target = {}): boolean {
    const rule = this.rules.get(action);
    if (!rule) {
      this.log.error(`no policy rule named ${action}: denying (a service bug)`);
      return false;
    }
    return evaluate(rule, credentialsOf(auth), target, this.rules);
  }

  /** Throws 403 in the family's wording when `auth` may not perform `action`. */
  enforce(action: string, auth: AuthContext, target: Target = {}): void {
    if (this.allows(action, auth, target)) return;
    const message =
      this.family === 'keystone'
        ? `You are not authorized to perform the requested action: ${action}.`
        : this.family === 'neutron'
          ? `(rule:${action}) is disallowed by policy`
          : `Policy doesn't allow ${action} to be performed.`;
    throw ApiError.forbidden(message, this.family === 'neutron' ? { type: 'PolicyNotAuthorized' } : {});
  }

  has(action: string): boolean {
    return this.rules.has(action);
  }
}
