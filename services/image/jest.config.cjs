// Integration tests start a service on a fresh database and vhost, and drop them afterwards
// (rabbitmqctl takes seconds on a busy machine): hooks and tests get a minute by default.
module.exports = require('../../jest.preset.cjs')(__dirname, { testTimeout: 60000 });
