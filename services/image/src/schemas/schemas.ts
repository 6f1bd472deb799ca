import { CONTAINER_FORMATS, DISK_FORMATS, MEMBER_STATUSES, STATUSES } from '../images/image.model.js';

/**
 * The JSON schemas Glance serves at /v2/schemas/*. Clients use them to know the base
 * attributes (everything else is a free-form string property) — python-glanceclient validates
 * against them, the SDK and Tempest read `name`.
 */
const UUID_PATTERN = '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$';
const DOC = 'https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html';

export const IMAGE_SCHEMA = {
  name: 'image',
  additionalProperties: { type: 'string' },
  links: [
    { href: '{self}', rel: 'self' },
    { href: '{file}', rel: 'enclosure' },
    { href: '{schema}', rel: 'describedby' },
  ],
  properties: {
    id: { type: 'string', pattern: UUID_PATTERN, description: 'An identifier for the image' },
    name: { type: ['null', 'string'], maxLength: 255, description: 'Descriptive name for the image' },
    status: { type: 'string', readOnly: true, enum: [...STATUSES], description: 'Status of the image' },
    visibility: { type: 'string', enum: ['community', 'public', 'private', 'shared'], description: 'Scope of image accessibility' },
    protected: { type: 'boolean', description: 'If true, image will not be deletable.' },
    os_hidden: { type: 'boolean', description: 'If true, image will not appear in default image list response.' },
    checksum: { type: ['null', 'string'], readOnly: true, maxLength: 32, description: 'md5 hash of image contents.' },
    os_hash_algo: { type: ['null', 'string'], readOnly: true, maxLength: 64, description: 'Algorithm to calculate the os_hash_value' },
    os_hash_value: { type: ['null', 'string'], readOnly: true, maxLength: 128, description: 'Hexdigest of the image contents using the algorithm specified by the os_hash_algo' },
    owner: { type: ['null', 'string'], maxLength: 255, description: 'Owner of the image' },
    size: { type: ['null', 'integer'], readOnly: true, description: 'Size of image file in bytes' },
    virtual_size: { type: ['null', 'integer'], readOnly: true, description: 'Virtual size of image in bytes' },
    container_format: { type: ['null', 'string'], enum: [null, ...CONTAINER_FORMATS], description: 'Format of the container' },
    disk_format: { type: ['null', 'string'], enum: [null, ...DISK_FORMATS], description: 'Format of the disk' },
    created_at: { type: 'string', readOnly: true, description: 'Date and time of image registration' },
    updated_at: { type: 'string', readOnly: true, description: 'Date and time of the last image modification' },
    tags: { type: 'array', items: { type: 'string', maxLength: 255 }, description: 'List of strings related to the image' },
    direct_url: { type: 'string', readOnly: true, description: 'URL to access the image file kept in external store' },
    min_ram: { type: 'integer', description: 'Amount of ram (in MB) required to boot image.' },
    min_disk: { type: 'integer', description: 'Amount of disk space (in GB) required to boot image.' },
    self: { type: 'string', readOnly: true, description: 'An image self url' },
    file: { type: 'string', readOnly: true, description: 'An image file url' },
    stores: { type: 'string', readOnly: true, description: 'Store in which image data resides.' },
    schema: { type: 'string', readOnly: true, description: 'An image schema url' },
    locations: {
      type: 'array',
      description: 'A set of URLs to access the image file kept in external store',
      items: { type: 'object', required: ['url', 'metadata'], properties: { url: { type: 'string', maxLength: 255 }, metadata: { type: 'object' } } },
    },
    kernel_id: { type: ['null', 'string'], pattern: UUID_PATTERN, is_base: false, description: 'ID of image stored in Glance that should be used as the kernel when booting an AMI-style image.' },
    ramdisk_id: { type: ['null', 'string'], pattern: UUID_PATTERN, is_base: false, description: 'ID of image stored in Glance that should be used as the ramdisk when booting an AMI-style image.' },
    instance_uuid: { type: 'string', is_base: false, description: 'Metadata which can be used to record which instance this image is associated with. (Informational only, does not create an instance snapshot.)' },
    architecture: { type: 'string', is_base: false, description: `Operating system architecture as specified in ${DOC}` },
    os_distro: { type: 'string', is_base: false, description: `Common name of operating system distribution as specified in ${DOC}` },
    os_version: { type: 'string', is_base: false, description: 'Operating system version as specified by the distributor' },
  },
};

export const IMAGES_SCHEMA = {
  name: 'images',
  links: [
    { href: '{first}', rel: 'first' },
    { href: '{next}', rel: 'next' },
    { href: '{schema}', rel: 'describedby' },
  ],
  properties: {
    images: { type: 'array', items: IMAGE_SCHEMA },
    first: { type: 'string' },
    next: { type: 'string' },
    schema: { type: 'string' },
  },
};

export const MEMBER_SCHEMA = {
  name: 'member',
  properties: {
    created_at: { type: 'string', description: 'Date and time of image member creation' },
    image_id: { type: 'string', pattern: UUID_PATTERN, description: 'An identifier for the image' },
    member_id: { type: 'string', description: 'An identifier for the image member (tenantId)' },
    schema: { type: 'string', readOnly: true },
    status: { type: 'string', enum: [...MEMBER_STATUSES], description: 'The status of this image member' },
    updated_at: { type: 'string', description: 'Date and time of last modification of image member' },
  },
};

export const MEMBERS_SCHEMA = {
  name: 'members',
  links: [{ href: '{schema}', rel: 'describedby' }],
  properties: { members: { type: 'array', items: MEMBER_SCHEMA }, schema: { type: 'string' } },
};

const TIMES = { created_at: { type: 'string', readOnly: true, format: 'date-time' }, updated_at: { type: 'string', readOnly: true, format: 'date-time' } };

const METADEF_PROPERTY = {
  name: 'property',
  type: 'object',
  required: ['name', 'title', 'type'],
  properties: {
    name: { type: 'string', maxLength: 255 },
    title: { type: 'string' },
    description: { type: 'string' },
    operators: { type: 'array', items: { type: 'string' } },
    type: { type: 'string', enum: ['array', 'boolean', 'integer', 'number', 'object', 'string', null] },
    required: { type: 'array', items: { type: 'string' }, uniqueItems: true },
    minimum: { type: 'number' },
    maximum: { type: 'number' },
    maxLength: { type: 'integer', minimum: 0 },
    minLength: { type: 'integer', minimum: 0 },
    pattern: { type: 'string', format: 'regex' },
    enum: { type: 'array' },
    readonly: { type: 'boolean' },
    default: {},
    items: { type: 'object' },
    maxItems: { type: 'integer', minimum: 0 },
    minItems: { type: 'integer', minimum: 0 },
    uniqueItems: { type: 'boolean', default: false },
    additionalItems: { type: 'boolean' },
  },
};

const METADEF_OBJECT = {
  name: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string', maxLength: 255 },
    description: { type: 'string' },
    required: { type: 'array', items: { type: 'string' } },
    properties: { type: 'object', additionalProperties: { type: 'object' } },
    schema: { type: 'string', readOnly: true },
    self: { type: 'string', readOnly: true },
    ...TIMES,
  },
};

const METADEF_TAG = { name: 'tag', required: ['name'], properties: { name: { type: 'string', maxLength: 255 }, ...TIMES } };

const METADEF_RESOURCE_TYPE = {
  name: 'resource_type_association',
  required: ['name'],
  properties: {
    name: { type: 'string', maxLength: 80 },
    prefix: { type: 'string', maxLength: 80 },
    properties_target: { type: 'string', maxLength: 80 },
    ...TIMES,
  },
};

const METADEF_NAMESPACE = {
  name: 'namespace',
  required: ['namespace'],
  additionalProperties: false,
  properties: {
    namespace: { type: 'string', maxLength: 80, description: 'The unique namespace text.' },
    display_name: { type: 'string', maxLength: 80, description: 'The user friendly name for the namespace.' },
    description: { type: 'string', maxLength: 500 },
    visibility: { type: 'string', enum: ['public', 'private'], description: 'Scope of namespace accessibility.' },
    protected: { type: 'boolean', description: 'If true, namespace will not be deletable.' },
    owner: { type: 'string', maxLength: 255, description: 'Owner of the namespace.' },
    resource_type_associations: { type: 'array', items: METADEF_RESOURCE_TYPE },
    properties: { type: 'object', additionalProperties: METADEF_PROPERTY },
    objects: { type: 'array', items: METADEF_OBJECT },
    tags: { type: 'array', items: METADEF_TAG },
    schema: { type: 'string', readOnly: true },
    self: { type: 'string', readOnly: true },
    ...TIMES,
  },
};

const collection = (name: string, key: string, item: unknown) => ({
  name,
  links: [
    { href: '{first}', rel: 'first' },
    { href: '{next}', rel: 'next' },
    { href: '{schema}', rel: 'describedby' },
  ],
  properties: { [key]: { type: 'array', items: item }, first: { type: 'string' }, next: { type: 'string' }, schema: { type: 'string' } },
});

/** `/v2/schemas/<key>` → document. */
export const SCHEMAS: Record<string, unknown> = {
  image: IMAGE_SCHEMA,
  images: IMAGES_SCHEMA,
  member: MEMBER_SCHEMA,
  members: MEMBERS_SCHEMA,
  'metadefs/namespace': METADEF_NAMESPACE,
  'metadefs/namespaces': collection('namespaces', 'namespaces', METADEF_NAMESPACE),
  'metadefs/resource_type': METADEF_RESOURCE_TYPE,
  'metadefs/resource_types': collection('resource_type_associations', 'resource_type_associations', METADEF_RESOURCE_TYPE),
  'metadefs/object': METADEF_OBJECT,
  'metadefs/objects': collection('objects', 'objects', METADEF_OBJECT),
  'metadefs/property': METADEF_PROPERTY,
  'metadefs/properties': { name: 'properties', links: [{ href: '{schema}', rel: 'describedby' }], properties: { properties: { type: 'object', additionalProperties: METADEF_PROPERTY } } },
  'metadefs/tag': METADEF_TAG,
  'metadefs/tags': collection('tags', 'tags', METADEF_TAG),
};
