#!/usr/bin/env node
// Install hook: compiles the native addon with node-gyp against the Node headers that the
// nodesource package installs under /usr (node-gyp would otherwise try to download them,
// which fails offline). A compile failure must NOT fail the workspace install: everything
// in @kumo/hypervisor has a JS fallback or a clear error (src/native.ts), so we warn and
// exit 0. Set KUMO_NATIVE_REQUIRED=1 to make a failure fatal (CI on real compute hosts).
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');

const pkgDir = path.resolve(__dirname, '..');
const nodedir = process.env.npm_config_nodedir || (fs.existsSync('/usr/include/node/node.h') ? '/usr' : '');
let gyp;
try {
  gyp = require.resolve('node-gyp/bin/node-gyp.js', { paths: [pkgDir] });
} catch {
  gyp = null;
}
if (!gyp) {
  console.warn('[@kumo/hypervisor] node-gyp is not installed; native addon not built (JS fallbacks will be used).');
  process.exit(process.env.KUMO_NATIVE_REQUIRED === '1' ? 1 : 0);
}
const args = [gyp, 'rebuild'];
if (nodedir) args.push(`--nodedir=${nodedir}`);
const r = spawnSync(process.execPath, args, { cwd: pkgDir, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (r.status === 0) {
  console.log('[@kumo/hypervisor] native addon built: build/Release/kumo_native.node');
  process.exit(0);
}
const tail = `${r.stdout || ''}${r.stderr || ''}`.trim().split('\n').slice(-15).join('\n');
console.warn(
  `[@kumo/hypervisor] WARNING: native addon build failed (node-gyp exit ${r.status}); ` +
    'TAP fd creation, fd passing (QMP getfd) and KVM ioctls fall back or report a clear error.\n' +
    'Check: g++, make and python3 are installed and Node headers exist in /usr/include/node ' +
    '(or set npm_config_nodedir). Rebuild with: pnpm --filter @kumo/hypervisor build:native\n' +
    tail,
);
process.exit(process.env.KUMO_NATIVE_REQUIRED === '1' ? 1 : 0);
