/**
 * Default policy of the compute API (oslo.policy syntax; override by name with KUMO_POLICY_FILE),
 * following Nova's secure-RBAC defaults: readers read, members of the owning project act, admins
 * do anything. Which rows a project can see at all is decided by the queries (another project's
 * server is a 404, never a 403). Targets: `project_id` is the owner of the resource.
 */
const READ = 'rule:admin_or_reader';
const WRITE = 'rule:admin_or_member';
const ADMIN = 'role:admin';

export const computePolicy: Record<string, string> = {
  'servers:index': READ,
  'servers:show': READ,
  'servers:create': WRITE,
  'servers:update': WRITE,
  'servers:delete': WRITE,
  'servers:action': WRITE,
  'servers:force_delete': WRITE,
  'servers:all_tenants': ADMIN,
  'servers:show_host': ADMIN,
  'servers:unlock_override': ADMIN,
  'servers:reset_state': ADMIN,
  'servers:create_on_host': ADMIN,
  'flavors:manage': ADMIN,
  // 2.55 PUT /flavors/{id} (Nova: os_compute_api:os-flavor-manage:update).
  'flavors:update': ADMIN,
  'flavors:list_all': ADMIN,
  'keypairs:other_user': ADMIN,
  'quotas:show': READ,
  'quotas:update': ADMIN,
  'quota_class_sets:show': ADMIN,
  'quota_class_sets:update': ADMIN,
  'limits:other_project': ADMIN,
  'hypervisors': ADMIN,
  'services': ADMIN,
  'services:update': ADMIN,
  'services:delete': ADMIN,
  'availability_zones:detail': ADMIN,
  'server_groups:create': WRITE,
  'server_groups:show': READ,
  'server_groups:delete': WRITE,
  'instance_actions': READ,
  'instance_actions:events': ADMIN,
  'servers:migrate': ADMIN,
  'servers:migrate_live': ADMIN,
  'servers:evacuate': ADMIN,
  'servers:migrations': ADMIN,
  'os_migrations': ADMIN,
  // Nova's floating IP proxy (2.1–2.35) and its server actions (2.1–2.43); the network service scopes the addresses too.
  'os_compute_api:os-floating-ips:list': READ,
  'os_compute_api:os-floating-ips:show': READ,
  'os_compute_api:os-floating-ips:create': WRITE,
  'os_compute_api:os-floating-ips:delete': WRITE,
  'os_compute_api:os-floating-ips:add': WRITE,
  'os_compute_api:os-floating-ips:remove': WRITE,
  'os_compute_api:os-floating-ip-pools:list': '@',
  // Nova's image proxy (2.1–2.35) and image-metadata proxy (2.1–2.38), under the names Nova had for
  // them (os_compute_api:images, os_compute_api:image-metadata); the image service scopes the images too.
  'os_compute_api:images': READ,
  'os_compute_api:images:delete': WRITE,
  'os_compute_api:image-metadata': READ,
  'os_compute_api:image-metadata:update': WRITE,
  // createBackup (Nova: os_compute_api:os-create-backup, project member or admin).
  'os_compute_api:os-create-backup': WRITE,
  // Nova's volume proxy (os-volumes, os-snapshots; 2.1–2.35); the volume service scopes and checks the volumes too.
  'os_compute_api:os-volumes:list': READ,
  'os_compute_api:os-volumes:detail': READ,
  'os_compute_api:os-volumes:show': READ,
  'os_compute_api:os-volumes:create': WRITE,
  'os_compute_api:os-volumes:delete': WRITE,
  'os_compute_api:os-volumes:snapshots:list': READ,
  'os_compute_api:os-volumes:snapshots:detail': READ,
  'os_compute_api:os-volumes:snapshots:show': READ,
  'os_compute_api:os-volumes:snapshots:create': WRITE,
  'os_compute_api:os-volumes:snapshots:delete': WRITE,
  'servers:interfaces': READ,
  'servers:interfaces:update': WRITE,
  'servers:volume_attachments': READ,
  'servers:volume_attachments:update': WRITE,
  // Nova's os_compute_api:os-volumes-attachments:swap: admin only (it is an operator's tool for volume migration).
  'servers:volume_attachments:swap': ADMIN,
  // Server actions (Nova's os-shelve:shelve_offload and os-server-diagnostics default to admin).
  'servers:shelve_offload': ADMIN,
  'servers:diagnostics': ADMIN,
  'servers:remote_consoles': WRITE,
  // Host aggregates: admin only (Nova's defaults), under Nova's rule names.
  'os_compute_api:os-aggregates:index': ADMIN,
  'os_compute_api:os-aggregates:create': ADMIN,
  'os_compute_api:os-aggregates:show': ADMIN,
  'os_compute_api:os-aggregates:update': ADMIN,
  'os_compute_api:os-aggregates:delete': ADMIN,
  'os_compute_api:os-aggregates:add_host': ADMIN,
  'os_compute_api:os-aggregates:remove_host': ADMIN,
  'os_compute_api:os-aggregates:set_metadata': ADMIN,
  // Microversions: 2.16 host_status (Nova: os_compute_api:servers:show:host_status, admin).
  'servers:show:host_status': ADMIN,
  // 2.47: the embedded flavor's extra_specs (Nova: os_compute_api:servers:show:flavor-extra-specs,
  // project reader or admin).
  'servers:show:flavor-extra-specs': READ,
  'servers:trigger_crash_dump': WRITE,
  'servers:migrations:force_complete': ADMIN,
  'servers:migrations:delete': ADMIN,
  // 2.26 server tags (Nova's os-server-tags: readers list/check, members change).
  // os-server-password (Nova's names): readers see the encrypted password, members clear it.
  'os_compute_api:os-server-password:show': READ,
  'os_compute_api:os-server-password:clear': WRITE,
  // os-server-external-events: Neutron/Cinder tell compute about a server (admin, Nova's default).
  'os_compute_api:os-server-external-events:create': ADMIN,
  'servers:tags': READ,
  'servers:tags:update': WRITE,
  // Legacy admin APIs (Nova's rule names and defaults): os-hosts (2.1–2.42) and the usage audit log.
  'os_compute_api:os-hosts:list': ADMIN,
  'os_compute_api:os-hosts:show': ADMIN,
  'os_compute_api:os-hosts:update': ADMIN,
  'os_compute_api:os-hosts:reboot': ADMIN,
  'os_compute_api:os-hosts:shutdown': ADMIN,
  'os_compute_api:os-hosts:start': ADMIN,
  'os_compute_api:os-instance-usage-audit-log:list': ADMIN,
  'os_compute_api:os-instance-usage-audit-log:show': ADMIN,
  // Nova's network proxies (2.1–2.35): the caller's project readers; the network service scopes the rows.
  'os_compute_api:os-networks:list': READ,
  'os_compute_api:os-networks:show': READ,
  'os_compute_api:os-tenant-networks:list': READ,
  'os_compute_api:os-tenant-networks:show': READ,
  'os_compute_api:extensions': '@',
};
