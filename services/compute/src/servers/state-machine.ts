import type { DesiredPower } from '@kumo/contracts';

/**
 * The instance state machine, in one place (cf. nova/compute/vm_states.py, task_states.py and
 * the @check_instance_state decorators of nova/compute/api.py).
 *
 * An instance has a `vm_state` (stable: where it rests) and a `task_state` (what is being done
 * to it now, or null). An action is allowed only from the vm_states listed for it and only when
 * no task runs (409 otherwise). It sets `task`, the power state the agent must converge to, and
 * the vm_state to settle in when the agent reports success. Every task ends: success → `to`,
 * failure → `error` with a fault (or, for resize/snapshot, back where it was), and the
 * reconciler ends tasks whose agent went silent.
 */
export type VmState = 'building' | 'active' | 'stopped' | 'paused' | 'suspended' | 'resized' | 'error' | 'deleted'
  // Server actions (rescue, shelve):
  | 'rescued'
  | 'shelved'
  | 'shelved_offloaded';

export type TaskState =
  | 'scheduling'
  | 'spawning'
  | 'rebooting'
  | 'rebooting_hard'
  | 'powering_off'
  | 'powering_on'
  | 'pausing'
  | 'unpausing'
  | 'suspending'
  | 'resuming'
  | 'resize_migrating'
  | 'resize_finish'
  | 'migrating'
  | 'interface_attaching'
  | 'interface_detaching'
  | 'volume_attaching'
  | 'volume_detaching'
  | 'volume_swapping'
  | 'resize_confirming'
  | 'resize_reverting'
  | 'image_snapshot'
  | 'image_backup'
  | 'rebuilding'
  | 'deleting'
  // Server actions (rescue, shelve, changePassword):
  | 'rescuing'
  | 'unrescuing'
  | 'shelving'
  | 'shelving_offloading'
  | 'unshelving'
  | 'updating_password';

export interface Transition {
  from: VmState[];
  task: TaskState;
  /** Power state the agent must converge to; `keep` = whatever the instance has now. */
  power: DesiredPower | 'keep';
  /** vm_state on success; `keep` = unchanged. */
  to: VmState | 'keep';
}

export const TRANSITIONS = {
  reboot_soft: { from: ['active'], task: 'rebooting', power: 'running', to: 'active' },
  reboot_hard: { from: ['active', 'stopped', 'paused', 'suspended', 'error'], task: 'rebooting_hard', power: 'running', to: 'active' },
  stop: { from: ['active', 'error'], task: 'powering_off', power: 'shutoff', to: 'stopped' },
  start: { from: ['stopped'], task: 'powering_on', power: 'running', to: 'active' },
  pause: { from: ['active'], task: 'pausing', power: 'paused', to: 'paused' },
  unpause: { from: ['paused'], task: 'unpausing', power: 'running', to: 'active' },
  suspend: { from: ['active'], task: 'suspending', power: 'suspended', to: 'suspended' },
  resume: { from: ['suspended'], task: 'resuming', power: 'running', to: 'active' },
  resize: { from: ['active', 'stopped'], task: 'resize_migrating', power: 'keep', to: 'resized' },
  confirm_resize: { from: ['resized'], task: 'resize_confirming', power: 'keep', to: 'keep' },
  revert_resize: { from: ['resized'], task: 'resize_reverting', power: 'keep', to: 'keep' },
  create_image: { from: ['active', 'stopped', 'paused', 'suspended'], task: 'image_snapshot', power: 'keep', to: 'keep' },
  // createBackup: a snapshot (same agent path), then the rotation of older backups of its type.
  create_backup: { from: ['active', 'stopped', 'paused', 'suspended'], task: 'image_backup', power: 'keep', to: 'keep' },
  rebuild: { from: ['active', 'stopped', 'error'], task: 'rebuilding', power: 'keep', to: 'keep' },
  // Cold migration: a resize to the same flavor on another host (the scheduler picks it).
  migrate: { from: ['active', 'stopped'], task: 'resize_migrating', power: 'keep', to: 'resized' },
  // Live migration: the domain moves while it runs; vm_state does not change.
  live_migrate: { from: ['active', 'paused'], task: 'migrating', power: 'keep', to: 'keep' },
  attach_interface: { from: ['active', 'paused', 'stopped'], task: 'interface_attaching', power: 'keep', to: 'keep' },
  detach_interface: { from: ['active', 'paused', 'stopped'], task: 'interface_detaching', power: 'keep', to: 'keep' },
  // The disk is hot-plugged (running/paused) or added to the definition (stopped, shelved). A
  // shelved_offloaded server has no domain: the volume is only reserved (attach) or released
  // (detach), and connected when it unshelves. Shelved states only from 2.20 (SINCE_MICROVERSION).
  attach_volume: { from: ['active', 'paused', 'stopped', 'shelved', 'shelved_offloaded'], task: 'volume_attaching', power: 'keep', to: 'keep' },
  detach_volume: { from: ['active', 'paused', 'stopped', 'shelved', 'shelved_offloaded'], task: 'volume_detaching', power: 'keep', to: 'keep' },
  // Swap volume (admin): the old disk is unplugged, its data copied into the new volume, which is
  // plugged at the same device. Not on suspended/resized servers (Nova allows them; the hot-plug
  // path here does not).
  swap_volume: { from: ['active', 'paused', 'stopped'], task: 'volume_swapping', power: 'keep', to: 'keep' },
  delete: { from: ['building', 'active', 'stopped', 'paused', 'suspended', 'resized', 'error', 'rescued', 'shelved', 'shelved_offloaded'], task: 'deleting', power: 'absent', to: 'deleted' },
  // Rescue boots a rescue disk with the root disk attached second (a new specVersion each way).
  rescue: { from: ['active', 'stopped', 'error'], task: 'rescuing', power: 'running', to: 'rescued' },
  unrescue: { from: ['rescued'], task: 'unrescuing', power: 'running', to: 'active' },
  // Shelve: power off + snapshot; with shelved_offload_time 0 the conductor goes on to offload.
  shelve: { from: ['active', 'stopped', 'paused', 'suspended'], task: 'shelving', power: 'shutoff', to: 'shelved' },
  shelve_offload: { from: ['shelved'], task: 'shelving_offloading', power: 'absent', to: 'shelved_offloaded' },
  // From shelved (still on its host): power on. From shelved_offloaded: schedule, spawn from the snapshot.
  unshelve: { from: ['shelved', 'shelved_offloaded'], task: 'unshelving', power: 'running', to: 'active' },
  change_password: { from: ['active'], task: 'updating_password', power: 'keep', to: 'keep' },
  // Evacuate (admin; the host's compute service is down): rebuilt on another host (task_host: the
  // destination's agent spawns it) → ACTIVE, or SHUTOFF when it was stopped (Nova's rebuild with
  // recreate). vm_state keeps showing (REBUILD / ERROR) while it runs.
  evacuate: { from: ['active', 'stopped', 'error'], task: 'rebuilding', power: 'keep', to: 'keep' },
} as const satisfies Record<string, Transition>;

/**
 * Tasks carried out by a synchronous call to the agent from the API (the request needs the
 * outcome, and what it carries — a password — must never be stored or re-sent), not by the
 * desired-state sync: the API ends them itself, the reconciler ends abandoned ones.
 */
export const CALL_TASKS: ReadonlySet<string> = new Set<TaskState>(['updating_password']);

/**
 * os-resetState (admin): not a transition. It is allowed from every vm_state and during every
 * task — it is the operator's way out of a stuck task or a wrong state — and only rewrites the
 * record (vm_state, task cleared); the domain is not touched (Nova's admin_actions._reset_state).
 */
export const RESET_STATES = ['active', 'error'] as const satisfies readonly VmState[];

export type ActionName = keyof typeof TRANSITIONS;

/**
 * vm_states an action accepts only from a microversion on (as comparable numbers, 2.20 → 2020):
 * below it they answer 409 like any state outside `from` (Nova's check_instance_state with the
 * version-dependent lists of compute/api.py).
 */
export const SINCE_MICROVERSION: Partial<Record<ActionName, Partial<Record<VmState, number>>>> = {
  // 2.20: volume attach/detach on shelved and shelved_offloaded servers.
  attach_volume: { shelved: 2020, shelved_offloaded: 2020 },
  detach_volume: { shelved: 2020, shelved_offloaded: 2020 },
};

/** Whether `action` may start from `vm` at microversion `version` (the task and lock are checked apart). */
export function allowedFrom(action: ActionName, vm: string, version: number): boolean {
  if (!(TRANSITIONS[action].from as readonly string[]).includes(vm)) return false;
  const since = SINCE_MICROVERSION[action]?.[vm as VmState];
  return since === undefined || version >= since;
}

/** Nova's `status` from (vm_state, task_state) (nova/api/openstack/common.py _STATE_MAP). */
export function statusOf(vm: string, task: string | null): string {
  switch (vm) {
    case 'building':
      return 'BUILD';
    case 'active':
      if (task === 'rebooting') return 'REBOOT';
      if (task === 'rebooting_hard') return 'HARD_REBOOT';
      if (task === 'rebuilding') return 'REBUILD';
      if (task === 'resize_migrating' || task === 'resize_finish') return 'RESIZE';
      if (task === 'migrating') return 'MIGRATING';
      if (task === 'updating_password') return 'PASSWORD';
      return 'ACTIVE';
    case 'stopped':
      if (task === 'resize_migrating' || task === 'resize_finish') return 'RESIZE';
      if (task === 'rebuilding') return 'REBUILD';
      if (task === 'rebooting_hard') return 'HARD_REBOOT';
      return 'SHUTOFF';
    case 'paused':
      return task === 'migrating' ? 'MIGRATING' : 'PAUSED';
    case 'suspended':
      return 'SUSPENDED';
    case 'resized':
      return task === 'resize_reverting' ? 'REVERT_RESIZE' : 'VERIFY_RESIZE';
    case 'error':
      return 'ERROR';
    case 'deleted':
      return 'DELETED';
    // Nova's _STATE_MAP: these show the same status whatever task runs (UNRESCUE/UNSHELVE do not exist).
    case 'rescued':
      return 'RESCUE';
    case 'shelved':
      return 'SHELVED';
    case 'shelved_offloaded':
      return 'SHELVED_OFFLOADED';
    default:
      return 'UNKNOWN';
  }
}

/** Nova's power_state integers. */
export const POWER = { nostate: 0, running: 1, paused: 3, shutdown: 4, crashed: 6, suspended: 7 } as const;

export function powerStateOf(observed: string): number {
  switch (observed) {
    case 'running':
      return POWER.running;
    case 'paused':
      return POWER.paused;
    case 'shutoff':
      return POWER.shutdown;
    case 'crashed':
      return POWER.crashed;
    case 'suspended':
      return POWER.suspended;
    default:
      return POWER.nostate;
  }
}

/** Which status filter values map to which vm_states (for `GET /servers?status=`). */
export const STATUS_TO_VM: Record<string, VmState[]> = {
  ACTIVE: ['active'],
  BUILD: ['building'],
  SHUTOFF: ['stopped'],
  PAUSED: ['paused'],
  SUSPENDED: ['suspended'],
  VERIFY_RESIZE: ['resized'],
  ERROR: ['error'],
  DELETED: ['deleted'],
  REBOOT: ['active'],
  HARD_REBOOT: ['active'],
  RESIZE: ['active', 'stopped'],
  REBUILD: ['active', 'stopped'],
  MIGRATING: ['active', 'paused'],
  RESCUE: ['rescued'],
  SHELVED: ['shelved'],
  SHELVED_OFFLOADED: ['shelved_offloaded'],
  PASSWORD: ['active'],
};

/** The power state an instance in `vm` rests in (what a sync without a task converges to). */
export function restingPower(vm: string): DesiredPower {
  switch (vm) {
    case 'stopped':
      return 'shutoff';
    case 'paused':
      return 'paused';
    case 'suspended':
      return 'suspended';
    case 'deleted':
    case 'shelved_offloaded':
      return 'absent';
    case 'shelved':
      return 'shutoff';
    default:
      return 'running';
  }
}
