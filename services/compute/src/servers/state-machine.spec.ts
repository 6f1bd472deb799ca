import { restingPower, statusOf, TRANSITIONS } from './state-machine.js';

describe('state machine', () => {
  it('maps vm_state × task_state to Nova status', () => {
    expect(statusOf('building', 'scheduling')).toBe('BUILD');
    expect(statusOf('active', null)).toBe('ACTIVE');
    expect(statusOf('active', 'rebooting')).toBe('REBOOT');
    expect(statusOf('active', 'rebooting_hard')).toBe('HARD_REBOOT');
    expect(statusOf('active', 'resize_migrating')).toBe('RESIZE');
    expect(statusOf('resized', null)).toBe('VERIFY_RESIZE');
    expect(statusOf('resized', 'resize_reverting')).toBe('REVERT_RESIZE');
    expect(statusOf('stopped', null)).toBe('SHUTOFF');
    expect(statusOf('error', null)).toBe('ERROR');
  });

  it('every action names reachable states and a task; delete is possible from every live state', () => {
    for (const [name, t] of Object.entries(TRANSITIONS)) {
      expect({ name, from: t.from.length > 0 }).toEqual({ name, from: true });
      expect(t.task).toBeTruthy();
    }
    expect(TRANSITIONS.delete.from).toEqual(expect.arrayContaining(['building', 'active', 'stopped', 'paused', 'suspended', 'resized', 'error']));
    expect(TRANSITIONS.stop.from).not.toContain('stopped');
    expect(TRANSITIONS.unpause.from).toEqual(['paused']);
  });

  it('resting power follows vm_state', () => {
    expect(restingPower('stopped')).toBe('shutoff');
    expect(restingPower('paused')).toBe('paused');
    expect(restingPower('active')).toBe('running');
    expect(restingPower('deleted')).toBe('absent');
  });
});
