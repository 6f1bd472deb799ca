import { invalid } from '../common/nova.js';

/** Nova's per-server limit (objects.instance.MAX_TAG_COUNT): for the tags API (2.26) and create (2.52). */
export const MAX_TAGS = 50;

/** Nova's server tag schema: a string of 1–60 characters without "/" or ",". */
export function checkTag(tag: unknown, field = 'tag'): string {
  if (typeof tag !== 'string') throw invalid(field, tag, `${JSON.stringify(tag)} is not of type 'string'`);
  if (tag.length < 1 || tag.length > 60) throw invalid(field, tag, `'${tag}' must be 1 to 60 characters`);
  if (/[/,]/.test(tag)) throw invalid(field, tag, `'${tag}' must not contain '/' or ','`);
  return tag;
}
