/** The API extensions Kumo implements (aliases as Neutron names them; clients probe them by alias). */
const UPDATED = '2026-11-27T00:00:00-00:00';
const ext = (alias: string, name: string, description: string) => ({ alias, name, description, updated: UPDATED, links: [] as unknown[] });

export const EXTENSIONS = [
  ext('router', 'Neutron L3 Router', 'Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.'),
  ext('external-net', 'Neutron external network', 'Adds external network attribute to network resource.'),
  ext('ext-gw-mode', 'Neutron L3 Configurable external gateway mode', 'Extension of the router abstraction for specifying whether SNAT should occur on the external gateway'),
  ext('extraroute', 'Neutron Extra Route', 'Extra routes configuration for L3 router'),
  ext('security-group', 'security-group', 'The security groups extension.'),
  ext('stateful-security-group', 'Stateful security group', 'Indicates if the security group is stateful or not'),
  ext('quotas', 'Quota management support', 'Expose functions for quotas management per tenant'),
  ext('quota_details', 'Quota details management support', 'Expose functions for quotas usage statistics per project'),
  ext('binding', 'Port Binding', 'Expose port bindings of a virtual port to external application'),
  ext('provider', 'Provider Network', 'Expose mapping of virtual networks to physical networks'),
  ext('project-id', 'project_id field enabled', 'Extension that indicates that project_id field is enabled.'),
  ext('standard-attr-description', 'standard-attr-description', 'Extension to add descriptions to standard attributes'),
  ext('standard-attr-tag', 'Tag support for resources with standard attribute: subnet, trunk, network_segment_range, router, network, policy, subnetpool, port, security_group, floatingip', 'Enables to set tag on resources with standard attribute.'),
  ext('tag', 'Tag support', 'Enables to set tag on resources.'),
  ext('tag-ext', 'Tag support for resources: subnet, subnetpool, port, router', 'Extends tag support to more L2 and L3 resources.'),
  ext('standard-attr-timestamp', 'Resource timestamps', 'Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.'),
  ext('standard-attr-revisions', 'Resource revision numbers', 'This extension will display the revision number of neutron resources.'),
  ext('port-security', 'Port Security', 'Provides port security'),
  ext('allowed-address-pairs', 'Allowed Address Pairs', 'Provides allowed address pairs'),
  ext('net-mtu', 'Network MTU', 'Provides MTU attribute for a network resource.'),
  ext('net-mtu-writable', 'Network MTU (writable)', 'Provides a writable MTU attribute for a network resource.'),
  ext('availability_zone', 'Availability Zone', 'The availability zone extension.'),
  ext('network_availability_zone', 'Network Availability Zone', 'Availability zone support for network.'),
  ext('router_availability_zone', 'Router Availability Zone', 'Availability zone support for router.'),
  ext('agent', 'agent', 'The agent management extension.'),
  ext('fip-port-details', 'Floating IP Port Details Extension', 'Add port_details attribute to Floating IP resource'),
  ext('subnet_allocation', 'Subnet Allocation', 'Enables allocation of subnets from a subnet pool'),
  ext('sorting', 'Sorting support', 'Enables sorting of resources.'),
  ext('pagination', 'Pagination support', 'Enables pagination of resources.'),
];

export const EXTENSION_ALIASES = EXTENSIONS.map((e) => e.alias);
