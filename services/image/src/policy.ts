/**
 * Default policy of the image API, in oslo.policy syntax (override any rule by name with
 * KUMO_POLICY_FILE). Like Glance's secure-RBAC defaults: readers read, members of the owning
 * project write, admins do anything. Which images a project can *see* at all (own, public,
 * community, shared with it) is decided by the queries themselves, as in Glance's database
 * layer: an image you cannot see is a 404, never a 403.
 *
 * Targets: `project_id` is the image's owner (for add_image: the owner-to-be); modify_member
 * also gets `member_id`, the project whose membership changes.
 */
export const imagePolicy: Record<string, string> = {
  get_image: 'role:reader or role:admin',
  get_images: 'role:reader or role:admin',
  add_image: 'rule:admin_or_member',
  modify_image: 'rule:admin_or_member',
  delete_image: 'rule:admin_or_member',
  upload_image: 'rule:admin_or_member',
  download_image: 'role:reader or role:admin',
  download_deactivated_image: 'role:admin',
  publicize_image: 'role:admin',
  communitize_image: 'rule:admin_or_member',
  /** Creating an image for another project, or giving an image away. */
  set_image_owner: 'role:admin',
  deactivate: 'rule:admin_or_member',
  reactivate: 'rule:admin_or_member',
  add_member: 'rule:admin_or_member',
  delete_member: 'rule:admin_or_member',
  get_member: 'role:reader or role:admin',
  get_members: 'role:reader or role:admin',
  modify_member: 'role:admin or (role:member and project_id:%(member_id)s)',
  import_image: 'rule:admin_or_member',
  get_tasks: 'role:reader or role:admin',
  get_usage: 'role:reader or role:admin',
  get_metadef: 'role:reader or role:admin',
  modify_metadef: 'role:admin',
};
