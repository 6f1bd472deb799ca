/**
 * The image service's AMQP contract: the RPCs other services (compute's API, conductor and node
 * agents) call on `kumo.image`, and the events it publishes on `kumo.events`.
 *
 * Version history (of this file's payloads; the envelope version is in envelope.ts):
 *   1.0 - Initial version: get, get_location, create, import_file; image.created/active/deleted.
 *   1.1 - delete (compute removes the snapshot of a shelved server after unshelve or delete).
 *   1.2 - list (compute finds the backups of a server to rotate after createBackup).
 *
 * Payloads are camelCase views of Glance's image (the REST API stays Glance-shaped).
 *
 * Authorisation: RPC callers are Kumo services, which the broker authenticates. A caller acting
 * for a user passes `asProject` (+ `asAdmin`): the image service then applies the same
 * visibility rules as its REST API (own, public, community, shared-and-member images; admin sees
 * everything), so a user cannot boot another project's private image by guessing its id.
 * Without `asProject` the caller is the cloud itself and sees every image.
 */

export type ImageStatus = 'queued' | 'saving' | 'active' | 'killed' | 'deleted' | 'pending_delete' | 'deactivated' | 'uploading' | 'importing';
export type ImageVisibility = 'public' | 'private' | 'shared' | 'community';

export interface ImageRecord {
  id: string;
  name: string | null;
  status: ImageStatus;
  visibility: ImageVisibility;
  /** Project id of the owner; null for cloud-owned images (e.g. the seeded test image). */
  owner: string | null;
  diskFormat: string | null;
  containerFormat: string | null;
  /** Bytes stored; null until data is uploaded. */
  size: number | null;
  /** Bytes the guest sees (qemu-img's virtual size); null until data is uploaded. */
  virtualSize: number | null;
  /** MD5 hex of the data (Glance's `checksum`). */
  checksum: string | null;
  osHashAlgo: string | null;
  osHashValue: string | null;
  minDisk: number;
  minRam: number;
  protected: boolean;
  /** Glance's free-form properties (`kernel_id`, `hw_disk_bus`, `os_command_line`, ...). */
  properties: Record<string, string>;
  tags: string[];
  createdAt: string;
  updatedAt: string;
}

/** Who a request is made for; omit both for the cloud itself. */
export interface ImageCaller {
  asProject?: string;
  asAdmin?: boolean;
}

export interface ImageGetRequest extends ImageCaller {
  imageId: string;
}

/**
 * Where the bytes of an active image are. The compute agent prefers `path` (the `file` store
 * is a directory; on one node, or with the store directory on shared storage, the agent reads
 * the file directly, then verifies `checksum`), and otherwise downloads `url` with its own
 * service token (`GET /v2/images/{id}/file`, any admin token can read any image).
 */
export interface ImageLocation {
  image: ImageRecord;
  /** Store driver holding the data: `file` (a directory) or `rbd` (Ceph). */
  store: string;
  /** file store: absolute path of the image data, readable by a process on the image node. */
  path?: string;
  /** rbd store: where a node with Ceph access clones from. */
  rbd?: { pool: string; image: string; snapshot: string };
  /** Download URL on the image API (public endpoint of this image service). */
  url: string;
}

export interface ImageCreateRequest {
  /** Project that owns the image (quota is charged to it). */
  owner: string;
  name: string;
  diskFormat: string;
  containerFormat: string;
  visibility?: ImageVisibility;
  minDisk?: number;
  minRam?: number;
  properties?: Record<string, string>;
  tags?: string[];
  /** Client-chosen id (idempotent retries): an existing image with this id and owner is returned. */
  id?: string;
}

/**
 * Fills a queued image from a file the image service can read (e.g. a snapshot a compute agent
 * wrote into one of the image service's KUMO_IMAGE_IMPORT_DIRS). The file goes through the same
 * checks as an HTTP upload (hashes, size, qemu-img inspection, quota). Idempotent: an image that
 * is already active with the same checksum answers as if imported now.
 */
export interface ImageImportFileRequest {
  imageId: string;
  path: string;
  /** Remove the source file after a successful import. */
  removeSource?: boolean;
}

/**
 * Deletes an image as Glance's DELETE does (data removed, `image.deleted` published). With
 * `asProject` only an image owned by that project may be deleted (404 `not_found` otherwise,
 * `conflict` for a protected image).
 */
export interface ImageDeleteRequest {
  imageId: string;
  asProject?: string;
}

/**
 * The images of one project whose properties include all of `properties` (every status but
 * deleted), oldest first. Compute's createBackup rotation: `{image_type: backup, backup_type,
 * instance_uuid}`. At most 1000.
 */
export interface ImageListRequest {
  owner: string;
  properties: Record<string, string>;
}

export interface ImageRpcMethods {
  /** Image metadata (404 `not_found` if missing or not visible to `asProject`). */
  get: { request: ImageGetRequest; reply: ImageRecord };
  /** Where to fetch the data of an active image (409 `conflict` when it has no data). */
  get_location: { request: ImageGetRequest; reply: ImageLocation };
  /** Registers a queued image (e.g. a server snapshot before its data exists). */
  create: { request: ImageCreateRequest; reply: ImageRecord };
  /** Fills a queued image from a local file; replies with the active image. */
  import_file: { request: ImageImportFileRequest; reply: ImageRecord };
  /** Deletes an image (see ImageDeleteRequest). */
  delete: { request: ImageDeleteRequest; reply: { deleted: true } };
  /** Images of a project by properties (see ImageListRequest). */
  list: { request: ImageListRequest; reply: { images: ImageRecord[] } };
}

export interface ImageEventPayloads {
  /** A new image record exists (status queued). */
  'image.created': { image: ImageRecord };
  /** An image's data was uploaded, verified and stored (status active). */
  'image.active': { image: ImageRecord };
  /** An image was deleted; its data is gone from the store. Compute nodes may drop cached copies. */
  'image.deleted': { imageId: string; owner: string | null; deletedAt: string };
}
