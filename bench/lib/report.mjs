// Shared by the benchmarks: statistics and the table every ./kumo bench prints.

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function summarize(samplesMs) {
  const s = [...samplesMs].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), mean: s.reduce((a, b) => a + b, 0) / (s.length || 1) };
}

export function fmt(value, digits = 2) {
  if (typeof value === 'string') return value;
  if (!Number.isFinite(value)) return '–';
  return value >= 100 ? value.toFixed(0) : value.toFixed(digits);
}

/** Prints a markdown table: {title, columns, rows, notes}. */
export function printTable({ title, columns, rows, notes = [] }) {
  const cells = [columns, ...rows.map((r) => r.map((c) => fmt(c)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r) => `| ${r.map((c, i) => String(c ?? '').padEnd(widths[i])).join(' | ')} |`;
  console.log(`\n### ${title}\n`);
  console.log(line(columns));
  console.log(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`);
  for (const r of cells.slice(1)) console.log(line(r));
  for (const n of notes) console.log(`\n${n}`);
}

/** "x.x× faster"-style ratio where lower is better (latencies). */
export function speedup(baseline, kumo) {
  return Number.isFinite(baseline) && Number.isFinite(kumo) && kumo > 0 ? `${(baseline / kumo).toFixed(2)}×` : '–';
}

/** Ratio where higher is better (throughput). */
export function gain(baseline, kumo) {
  return Number.isFinite(baseline) && Number.isFinite(kumo) && baseline > 0 ? `${(kumo / baseline).toFixed(2)}×` : '–';
}

export function requireEnv(...names) {
  const missing = names.filter((n) => !process.env[n]);
  if (missing.length) {
    console.error(`missing ${missing.join(', ')}: run this through './kumo bench NAME' (it loads .kumo/kumo.env and openrc)`);
    process.exit(2);
  }
}
