export * from './wait.js';
export * from './infra.js';
export * from './private-broker.js';
export * from './service.js';
export * from './identity.js';
