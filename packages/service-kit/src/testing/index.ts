export * from './wait.js';
export * from './infra.js';
