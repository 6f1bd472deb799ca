export * from './names.js';
export * from './envelope.js';
export * from './ping.js';
export * from './rpc.js';
export * from './events.js';
export * from './client.js';
export * from './identity.js';
export * from './image.js';
