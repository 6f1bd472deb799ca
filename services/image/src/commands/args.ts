/** `--key value` / `--flag` arguments of a main.js subcommand. */
export function parseArgs(args: string[], known: string[], flags: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m || (!known.includes(m[1]!) && !flags.includes(m[1]!))) throw new Error(`unknown argument ${JSON.stringify(a)} (known: ${[...known, ...flags].map((k) => `--${k}`).join(', ')})`);
    if (flags.includes(m[1]!)) {
      out[m[1]!] = 'true';
      continue;
    }
    const value = m[2] ?? args[++i];
    if (value === undefined) throw new Error(`--${m[1]} needs a value`);
    out[m[1]!] = value;
  }
  return out;
}
