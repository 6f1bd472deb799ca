import { CALL_TASKS, restingPower, statusOf, TRANSITIONS } from './state-machine.js';

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
    expect(statusOf('active', 'rescuing')).toBe('ACTIVE');
    expect(statusOf('rescued', null)).toBe('RESCUE');
    expect(statusOf('rescued', 'unrescuing')).toBe('RESCUE');
    expect(statusOf('active', 'shelving')).toBe('ACTIVE');
    expect(statusOf('shelved', 'shelving_offloading')).toBe('SHELVED');
    expect(statusOf('shelved_offloaded', null)).toBe('SHELVED_OFFLOADED');
    expect(statusOf('shelved_offloaded', 'unshelving')).toBe('SHELVED_OFFLOADED');
    expect(statusOf('active', 'updating_password')).toBe('PASSWORD');
  });

  it('server actions: rescue/shelve/changePassword only from the states Nova allows', () => {
    expect(TRANSITIONS.rescue.from).toEqual(['active', 'stopped', 'error']);
    expect(TRANSITIONS.unrescue.from).toEqual(['rescued']);
    expect(TRANSITIONS.shelve.from).not.toContain('shelved');
    expect(TRANSITIONS.shelve_offload.from).toEqual(['shelved']);
    expect(TRANSITIONS.unshelve.from).toEqual(['shelved', 'shelved_offloaded']);
    expect(TRANSITIONS.change_password.from).toEqual(['active']);
    expect(TRANSITIONS.delete.from).toEqual(expect.arrayContaining(['rescued', 'shelved', 'shelved_offloaded']));
    expect(CALL_TASKS.has('updating_password')).toBe(true);
    expect(restingPower('shelved')).toBe('shutoff');
    expect(restingPower('shelved_offloaded')).toBe('absent');
    expect(restingPower('rescued')).toBe('running');
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
