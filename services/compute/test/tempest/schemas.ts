import { createRequire } from 'node:module';
import Ajv from 'ajv';

const require = createRequire(import.meta.url);
const schemas = require('./tempest-schemas.json') as Record<string, { status_code: number[]; response_body: object }>;
const ajv = new Ajv({ allErrors: true, schemaId: 'auto', unknownFormats: 'ignore', logger: false });
ajv.addMetaSchema(require('ajv/lib/refs/json-schema-draft-04.json'));

/** Validates a response against Tempest's strict schema (exported by export-schemas.py); returns the errors. */
export function tempestErrors(name: string, status: number, body: unknown): string[] {
  const s = schemas[name];
  if (!s) throw new Error(`no Tempest schema ${name}`);
  const errors: string[] = [];
  if (!s.status_code.includes(status)) errors.push(`status ${status} not in ${s.status_code.join(',')}`);
  const validate = ajv.compile(s.response_body);
  if (!validate(body)) for (const e of validate.errors ?? []) errors.push(`${e.dataPath} ${e.message} ${JSON.stringify(e.params)}`);
  return errors;
}
