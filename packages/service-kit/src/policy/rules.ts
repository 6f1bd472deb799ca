/**
 * A small oslo.policy-compatible rule language, so operators can override defaults with the
 * syntax they know from OpenStack policy files:
 *
 *   rule      := or
 *   or        := and ('or' and)*
 *   and       := not ('and' not)*
 *   not       := 'not' not | '(' rule ')' | check
 *   check     := '@' (always) | '!' (never) | 'rule:' NAME | KEY ':' VALUE
 *
 * KEY is a credential attribute (role, user_id, project_id, domain_id, user_domain_id,
 * project_domain_id, system_scope, is_admin); VALUE is a literal or `%(target.attr)s` /
 * `%(attr)s`, interpolated from the target of the action (e.g. the project owning a server).
 */

export type Rule =
  | { kind: 'always' }
  | { kind: 'never' }
  | { kind: 'rule'; name: string }
  | { kind: 'check'; key: string; value: string }
  | { kind: 'not'; rule: Rule }
  | { kind: 'and'; rules: Rule[] }
  | { kind: 'or'; rules: Rule[] };

const count = (s: string, c: string) => s.split(c).length - 1;

/** Splits on whitespace and peels grouping parentheses off words, keeping `%(attr)s` whole. */
function tokenize(text: string): string[] {
  const tokens: string[] = [];
  for (let chunk of text.split(/\s+/).filter(Boolean)) {
    while (chunk.startsWith('(')) {
      tokens.push('(');
      chunk = chunk.slice(1);
    }
    let closing = 0;
    while (chunk.endsWith(')') && count(chunk, '(') < count(chunk, ')')) {
      chunk = chunk.slice(0, -1);
      closing++;
    }
    if (chunk) tokens.push(chunk);
    for (let i = 0; i < closing; i++) tokens.push(')');
  }
  return tokens;
}

export function parseRule(text: string): Rule {
  const trimmed = text.trim();
  if (trimmed === '') return { kind: 'always' }; // oslo.policy: an empty rule always passes
  const tokens = tokenize(trimmed);
  let i = 0;
  const peek = () => tokens[i];
  const fail = (msg: string): never => {
    throw new Error(`invalid policy rule ${JSON.stringify(text)}: ${msg}`);
  };
  const parseOr = (): Rule => {
    const rules = [parseAnd()];
    while (peek()?.toLowerCase() === 'or') {
      i++;
      rules.push(parseAnd());
    }
    return rules.length === 1 ? rules[0]! : { kind: 'or', rules };
  };
  const parseAnd = (): Rule => {
    const rules = [parseNot()];
    while (peek()?.toLowerCase() === 'and') {
      i++;
      rules.push(parseNot());
    }
    return rules.length === 1 ? rules[0]! : { kind: 'and', rules };
  };
  const parseNot = (): Rule => {
    const t = peek();
    if (t === undefined) return fail('unexpected end');
    if (t.toLowerCase() === 'not') {
      i++;
      return { kind: 'not', rule: parseNot() };
    }
    if (t === '(') {
      i++;
      const inner = parseOr();
      if (peek() !== ')') fail('missing )');
      i++;
      return inner;
    }
    i++;
    if (t === '@') return { kind: 'always' };
    if (t === '!') return { kind: 'never' };
    const colon = t.indexOf(':');
    if (colon <= 0) return fail(`expected KEY:VALUE, got ${JSON.stringify(t)}`);
    const key = t.slice(0, colon);
    const value = t.slice(colon + 1);
    if (key === 'rule') return { kind: 'rule', name: value };
    return { kind: 'check', key, value };
  };
  const rule = parseOr();
  if (i !== tokens.length) fail(`unexpected ${JSON.stringify(tokens[i])}`);
  return rule;
}

export interface Credentials {
  roles: string[];
  user_id: string;
  project_id?: string;
  domain_id?: string;
  user_domain_id: string;
  project_domain_id?: string;
  system_scope?: 'all';
  is_admin: boolean;
}

export type Target = Record<string, unknown>;

const INTERP_RE = /^%\((?:target\.)?([A-Za-z0-9_.:]+)\)s$/;

function resolveValue(value: string, target: Target): string | undefined {
  const m = INTERP_RE.exec(value);
  if (!m) return value;
  const v = target[m[1]!];
  return v === undefined || v === null ? undefined : String(v);
}

export function evaluate(rule: Rule, creds: Credentials, target: Target, rules: Map<string, Rule>, depth = 0): boolean {
  if (depth > 50) throw new Error('policy rules refer to each other in a loop');
  switch (rule.kind) {
    case 'always':
      return true;
    case 'never':
      return false;
    case 'not':
      return !evaluate(rule.rule, creds, target, rules, depth + 1);
    case 'and':
      return rule.rules.every((r) => evaluate(r, creds, target, rules, depth + 1));
    case 'or':
      return rule.rules.some((r) => evaluate(r, creds, target, rules, depth + 1));
    case 'rule': {
      const named = rules.get(rule.name);
      return named ? evaluate(named, creds, target, rules, depth + 1) : false;
    }
    case 'check': {
      const expected = resolveValue(rule.value, target);
      if (expected === undefined) return false;
      switch (rule.key) {
        case 'role':
          return creds.roles.some((r) => r.toLowerCase() === expected.toLowerCase());
        case 'is_admin':
          return String(creds.is_admin).toLowerCase() === expected.toLowerCase();
        default: {
          const actual = (creds as unknown as Record<string, unknown>)[rule.key];
          return actual !== undefined && actual !== null && String(actual) === expected;
        }
      }
    }
  }
}
