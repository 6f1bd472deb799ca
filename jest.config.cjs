// The whole suite as one jest run over every package (./kumo test drives it in tiers).
const fs = require('node:fs');
const path = require('node:path');

const dirs = ['packages', 'services']
  .flatMap((d) => fs.readdirSync(path.join(__dirname, d)).map((x) => path.join(d, x)))
  .concat(['test'])
  .filter((d) => fs.existsSync(path.join(__dirname, d, 'jest.config.cjs')));

module.exports = { projects: dirs.map((d) => `<rootDir>/${d}`) };
