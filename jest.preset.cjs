// Shared jest settings. NestJS 12 ships ESM only and jest 30 on Node 20 cannot require() ESM,
// so everything (node_modules included) goes through @swc/jest into CommonJS; ts-jest cannot
// be used because it needs TypeScript's JS compiler API (docs/service-kit.md has the test tiers).
const path = require('node:path');

/** @param {string} dir package directory; @param {object} extra jest overrides */
module.exports = function preset(dir, extra = {}) {
  // testTimeout and maxWorkers are global options: jest ignores them in a project of the root
  // multi-project run (./kumo test). The timeout is applied per project through a setup file
  // instead; worker count is the runner's business (QEMU guests are bounded by a machine-wide
  // slot lock anyway).
  const { testTimeout, maxWorkers: _maxWorkers, ...rest } = extra;
  return {
    setupFilesAfterEnv: [path.join(__dirname, 'jest.setup-timeout.cjs')],
    globals: { __KUMO_TEST_TIMEOUT__: testTimeout ?? 30000 },
    rootDir: dir,
    testEnvironment: 'node',
    transformIgnorePatterns: [],
    transform: {
      '^.+\\.(t|j|mj|cj)s$': [
        require.resolve('@swc/jest'),
        {
          jsc: {
            target: 'es2022',
            parser: { syntax: 'typescript', decorators: true },
            transform: { legacyDecorator: true, decoratorMetadata: true },
          },
          module: { type: 'commonjs' },
        },
      ],
    },
    // Workspace packages export their TypeScript sources under the 'kumo-src' condition so tests
    // run without a prior build.
    testEnvironmentOptions: { customExportConditions: ['kumo-src', 'node', 'require', 'default'] },
    moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
    cacheDirectory: path.join(__dirname, 'node_modules/.cache/jest'),
    ...rest,
  };
};
