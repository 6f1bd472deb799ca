// Real-QEMU test files take tens of seconds each; guests are limited machine-wide by the
// slot lock in src/testing/guest-slots.ts, so two workers are enough on a 2-core box.
module.exports = require('../../jest.preset.cjs')(__dirname, {
  testMatch: ['<rootDir>/test/**/*.spec.ts', '<rootDir>/src/**/*.spec.ts'],
  maxWorkers: 2,
  testTimeout: 180000,
});
