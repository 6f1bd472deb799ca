import { ApiError, renderError } from './api-error.js';
import { classifyError } from './exception.filter.js';
import { NotFoundException } from '@nestjs/common';
import { RpcError } from '@kumo/contracts';

describe('OpenStack error bodies', () => {
  it('renders each family in the shape its clients parse', () => {
    expect(renderError('nova', 404, 'Instance x could not be found.').body).toEqual({ itemNotFound: { code: 404, message: 'Instance x could not be found.' } });
    expect(renderError('cinder', 409, 'busy').body).toEqual({ conflictingRequest: { code: 409, message: 'busy' } });
    expect(renderError('nova', 500, 'x').body).toEqual({ computeFault: { code: 500, message: 'x' } });
    expect(renderError('keystone', 401, 'nope').body).toEqual({ error: { code: 401, message: 'nope', title: 'Unauthorized' } });
    expect(renderError('keystone', 413, 'big').body).toEqual({ error: { code: 413, message: 'big', title: 'Request Entity Too Large' } });
    expect(renderError('neutron', 404, 'Network n could not be found.', { type: 'NetworkNotFound' }).body).toEqual({
      NeutronError: { type: 'NetworkNotFound', message: 'Network n could not be found.', detail: '' },
    });
    expect(renderError('neutron', 413, 'big').body).toEqual({ NeutronError: { type: 'HTTPRequestEntityTooLarge', message: 'big', detail: '' } });
    expect(renderError('glance', 404, 'No image found').body).toEqual({ message: 'No image found', code: '404 Not Found', title: 'Not Found' });
  });

  it('keeps ApiError status and message, and marks unknown errors internal', () => {
    expect(classifyError(ApiError.conflict('in use'))).toEqual({ status: 409, message: 'in use', options: {} });
    expect(classifyError(new Error('secret detail'))).toMatchObject({ status: 500, internal: true });
    expect(classifyError(new NotFoundException('Cannot GET /x'))).toMatchObject({ status: 404, message: 'The resource could not be found: GET /x.' });
  });

  it('maps remote RPC errors to HTTP statuses without hiding what the peer said', () => {
    expect(classifyError(new RpcError({ code: 'not_found', message: 'Port p not found' }))).toMatchObject({ status: 404, message: 'Port p not found' });
    const t = classifyError(new RpcError({ code: 'timeout', message: 'no reply to network.ping within 10 ms', service: 'network' }));
    expect(t.status).toBe(503);
    expect(t.message).toContain('network service did not answer in time');
  });

  it('classifies body-parser failures', () => {
    expect(classifyError(Object.assign(new Error('Unexpected token'), { type: 'entity.parse.failed', status: 400 }))).toMatchObject({ status: 400 });
    expect(classifyError(Object.assign(new Error('too large'), { type: 'entity.too.large', status: 413, limit: 10 }))).toMatchObject({
      status: 413,
      message: 'Request body is larger than the limit of 10 bytes.',
    });
  });
});
