import { agentQueue, isCompatible, RpcError, serviceQueue } from './index.js';

describe('contracts', () => {
  it('names queues per service and per agent host', () => {
    expect(serviceQueue('network')).toBe('kumo.network');
    expect(agentQueue('compute', 'node-1')).toBe('kumo.compute.node-1');
  });

  it('refuses agent host names that would break routing keys', () => {
    expect(() => agentQueue('compute', 'a.b')).toThrow(/RFC 1123/);
    expect(() => agentQueue('compute', '#')).toThrow(/invalid agent host name/);
  });

  it('accepts only the same major contract version', () => {
    expect(isCompatible('1.7')).toBe(true);
    expect(isCompatible('2.0')).toBe(false);
    expect(isCompatible(undefined)).toBe(false);
  });

  it('maps RPC error codes to HTTP statuses', () => {
    expect(new RpcError({ code: 'not_found', message: 'x' }).httpStatus()).toBe(404);
    expect(new RpcError({ code: 'timeout', message: 'x' }).httpStatus()).toBe(503);
  });
});
