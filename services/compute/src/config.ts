import type { BaseConfig } from '@kumo/service-kit';
import { z } from 'zod';

const seconds = (fallback: number) => z.coerce.number({ message: 'must be a number of seconds' }).positive('must be > 0').default(fallback);

export const computeConfigShape = {
  /** How often the reconciler looks for tasks whose agent went silent. */
  KUMO_COMPUTE_RECONCILE_S: seconds(10),
  /** A task without an agent report for this long is re-sent; after 3× it ends in ERROR. */
  KUMO_COMPUTE_TASK_TIMEOUT_S: seconds(60),
  /** A host without a heartbeat for this long is `down`: the scheduler skips it. */
  KUMO_COMPUTE_HOST_DOWN_S: seconds(60),
  /** Builds tried on this many hosts before ERROR "No valid host". */
  KUMO_COMPUTE_MAX_ATTEMPTS: z.coerce.number().int().min(1).default(3),
  /**
   * The scheduler picks randomly among this many best hosts (Nova's host_subset_size), so
   * concurrent boots do not all queue on the row lock of the single best host.
   */
  KUMO_COMPUTE_HOST_SUBSET_SIZE: z.coerce.number().int().min(1).default(3),
  /**
   * Seconds a SHELVED server keeps its host before it is offloaded (Nova's shelved_offload_time):
   * 0 offloads right after the snapshot (Nova's default), -1 never (only shelveOffload does).
   */
  KUMO_COMPUTE_SHELVED_OFFLOAD_TIME: z.coerce.number().int().min(-1).default(0),
  /** Lifetime of a console token (Nova's [consoleauth] token_ttl). */
  KUMO_COMPUTE_CONSOLE_TOKEN_TTL_S: seconds(600),
  /**
   * Console URLs point at the noVNC proxy of the server's node, as its agent reports it
   * (KUMO_AGENT_CONSOLE_LISTEN / KUMO_AGENT_CONSOLE_URL on the node, Nova's per-node
   * [vnc] novncproxy_base_url). This is the page used for nodes whose agent reports no proxy, e.g.
   * a proxy in front of them; default: `/vnc_auto.html` on this API, which checks the token and
   * redirects to the node's proxy once there is one, else says that node has no proxy (503).
   */
  KUMO_COMPUTE_NOVNC_URL: z.string().url('must be a URL such as http://console.example:6080/vnc_auto.html').optional(),
  /** Public URL of this API (links); default: from the request. */
  KUMO_COMPUTE_URL: z.string().optional(),
  /**
   * The network service's REST API (Neutron v2.0), e.g. http://127.0.0.1:9696: os-security-groups,
   * os-floating-ips(-pools), add/removeFloatingIp and the security group checks of server create go
   * there with the caller's token. Unset: those APIs answer 503 and server create does not check
   * security group names.
   */
  KUMO_NETWORK_URL: z.string().url('must be a URL such as http://127.0.0.1:9696').optional(),
  /**
   * The image service's REST API (Glance v2), e.g. http://127.0.0.1:9292: Nova's image proxy
   * (`/v2.1/images*`, 2.1–2.35; image metadata until 2.38) goes there with the caller's token.
   * Unset: those APIs answer 503.
   */
  KUMO_IMAGE_URL: z.string().url('must be a URL such as http://127.0.0.1:9292').optional(),
  /**
   * The volume service's REST API (Cinder v3), e.g. http://127.0.0.1:8776: Nova's os-volumes and
   * os-snapshots proxies (2.1–2.35) go there with the caller's token. Unset: those APIs answer 503.
   */
  KUMO_VOLUME_URL: z.string().url('must be a URL such as http://127.0.0.1:8776').optional(),
  /**
   * The pool (external network name) of `POST /os-floating-ips` without one (Nova's [neutron]
   * default_floating_pool); when no external network has that name, the first external network.
   */
  KUMO_COMPUTE_DEFAULT_FLOATING_POOL: z.string().min(1).default('public'),
};

export type ComputeConfig = BaseConfig & {
  KUMO_COMPUTE_RECONCILE_S: number;
  KUMO_COMPUTE_TASK_TIMEOUT_S: number;
  KUMO_COMPUTE_HOST_DOWN_S: number;
  KUMO_COMPUTE_MAX_ATTEMPTS: number;
  KUMO_COMPUTE_HOST_SUBSET_SIZE: number;
  KUMO_COMPUTE_URL?: string;
  KUMO_NETWORK_URL?: string;
  KUMO_IMAGE_URL?: string;
  KUMO_VOLUME_URL?: string;
  KUMO_COMPUTE_DEFAULT_FLOATING_POOL: string;
  KUMO_COMPUTE_SHELVED_OFFLOAD_TIME: number;
  KUMO_COMPUTE_CONSOLE_TOKEN_TTL_S: number;
  KUMO_COMPUTE_NOVNC_URL?: string;
};
