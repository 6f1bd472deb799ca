module.exports = require('../../jest.preset.cjs')(__dirname, { testPathIgnorePatterns: ['/node_modules/', '/.next/'] });
