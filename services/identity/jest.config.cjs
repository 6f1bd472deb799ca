// Integration tests start a real identity (PostgreSQL + RabbitMQ); give them time.
module.exports = require('../../jest.preset.cjs')(__dirname, { testTimeout: 60000 });
