/**
 * Default policy of the volume API, in oslo.policy syntax (override any rule by name with
 * KUMO_POLICY_FILE), named like Cinder's. Readers read, members of the owning project write,
 * admins do anything. Which volumes a project can see at all is decided by the queries: another
 * project's volume is a 404, never a 403.
 *
 * Target: `project_id` is the volume's project (for create: the project-to-be).
 */
export const volumePolicy: Record<string, string> = {
  'volume:get': 'role:reader or role:admin',
  'volume:get_all': 'role:reader or role:admin',
  'volume:create': 'rule:admin_or_member',
  'volume:update': 'rule:admin_or_member',
  'volume:delete': 'rule:admin_or_member',
  'volume:extend': 'rule:admin_or_member',
  'volume:update_volume_metadata': 'rule:admin_or_member',
  'volume_extension:volume_actions:set_bootable': 'rule:admin_or_member',
  'volume:create_snapshot': 'rule:admin_or_member',
  'volume:get_snapshot': 'role:reader or role:admin',
  'volume:get_all_snapshots': 'role:reader or role:admin',
  'volume:delete_snapshot': 'rule:admin_or_member',
  'volume:update_snapshot': 'rule:admin_or_member',
  'volume:update_snapshot_metadata': 'rule:admin_or_member',
  /** Listing every project's volumes (`all_tenants=1`). */
  'volume:get_all_tenants': 'role:admin',
  'volume_extension:types_index': 'role:reader or role:admin',
};
