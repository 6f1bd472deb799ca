// Runs the whole test suite in tiers and ends with one line: "N passed, N failed, N skipped".
//   1. static checks: eslint over the repository
//   2. unit + integration tests of every package, in parallel (jest projects, 2 workers)
//   3. serial tests (*.serial.spec.ts) and system tests (test/system), one at a time: they
//      restart brokers, run the whole stack or boot guests, and must not compete with others
// Extra arguments are passed to jest (e.g. a path pattern to run a subset).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const state = process.env.KUMO_STATE_DIR ?? join(root, '.kumo');
const out = join(state, 'test-results');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const extra = process.argv.slice(2);
const jestBin = join(root, 'node_modules', 'jest', 'bin', 'jest.js');
const SERIAL = '\\.serial\\.spec\\.ts$|/test/system/';

const totals = { passed: 0, failed: 0, skipped: 0 };
const failures = [];
const t0 = Date.now();

function section(title) {
  process.stdout.write(`\n\x1b[1m== ${title}\x1b[0m\n`);
}

function runJest(name, args) {
  const file = join(out, `${name}.json`);
  const res = spawnSync(process.execPath, [jestBin, '--ci', '--json', `--outputFile=${file}`, ...extra, ...args], { cwd: root, stdio: 'inherit', env: { ...process.env, FORCE_COLOR: '1' } });
  if (!existsSync(file)) {
    totals.failed += 1;
    failures.push(`${name}: jest did not produce results (exit ${res.status}, signal ${res.signal})`);
    return;
  }
  const r = JSON.parse(readFileSync(file, 'utf8'));
  totals.passed += r.numPassedTests;
  totals.failed += r.numFailedTests;
  totals.skipped += r.numPendingTests + r.numTodoTests;
  for (const suite of r.testResults) {
    const path = relative(root, suite.name);
    if (suite.status === 'failed' && suite.assertionResults.every((a) => a.status !== 'failed')) {
      // The file failed before or outside its tests (syntax error, beforeAll timeout): count it.
      totals.failed += 1;
      failures.push(`${path}: ${(suite.message || 'suite failed').split('\n').find((l) => l.trim()) ?? 'suite failed'}`);
    }
    for (const a of suite.assertionResults) if (a.status === 'failed') failures.push(`${path}: ${a.fullName}`);
  }
  // A test that passes against an exit code that does not (e.g. open handles) is still reported.
  if (res.status !== 0 && r.numFailedTests === 0 && r.numFailedTestSuites === 0 && r.numRuntimeErrorTestSuites === 0) {
    totals.failed += 1;
    failures.push(`${name}: jest exited with status ${res.status}`);
  }
}

section('static checks (eslint)');
const lint = spawnSync(process.execPath, [join(root, 'node_modules', 'eslint', 'bin', 'eslint.js'), '.'], { cwd: root, stdio: 'inherit' });
if (lint.status === 0) {
  totals.passed += 1;
  console.log('eslint: clean');
} else {
  totals.failed += 1;
  failures.push('eslint reported problems (see above)');
}

section('unit + integration tests');
runJest('parallel', ['--maxWorkers=2', ...[SERIAL, '/node_modules/', '/dist/', '/.next/'].map((p) => `--testPathIgnorePatterns=${p}`)]);

section('serial + system tests');
runJest('serial', ['--runInBand', `--testPathPatterns=${SERIAL}`, '--passWithNoTests']);

const minutes = ((Date.now() - t0) / 60000).toFixed(1);
if (failures.length) {
  section('failures');
  for (const f of failures) console.log(`  ✗ ${f}`);
}
console.log(`\n(took ${minutes} min; results in ${relative(root, out) || out})`);
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(totals.failed === 0 ? 0 : 1);
