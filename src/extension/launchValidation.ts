// Checks a launch configuration before a session starts, so a mistake is an
// error message naming the attribute rather than a failed launch. Two layers:
// the attribute table's JSON schema (types, enums, bounds — what the editor
// also underlines in launch.json), then the session's own parser,
// `parseLaunchConfig`, which knows how attributes combine.

import { LaunchError, parseLaunchConfig } from '../debug/launchConfig';
import { LAUNCH_ATTRIBUTES } from './launchSchema';
import type { JsonSchema } from '../vmm/config/schema';

type JsonValue = JsonSchema[string];

function describe(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? text.slice(0, 57) + '...' : text;
}

function typeMatches(type: string, value: unknown): boolean {
  switch (type) {
    case 'string': return typeof value === 'string';
    case 'boolean': return typeof value === 'boolean';
    case 'integer': return typeof value === 'number' && Number.isInteger(value);
    case 'number': return typeof value === 'number' && Number.isFinite(value);
    case 'array': return Array.isArray(value);
    case 'object': return typeof value === 'object' && value !== null && !Array.isArray(value);
    default: return true;
  }
}

/** What is wrong with a value, in words, or undefined when it fits the schema (the subset the table uses). */
export function schemaProblem(schema: JsonSchema, value: unknown, path: string): string | undefined {
  const anyOf = schema['anyOf'];
  if (Array.isArray(anyOf)) {
    const problems = anyOf.map((s) => schemaProblem(s as JsonSchema, value, path));
    if (problems.some((p) => p === undefined)) return undefined;
    // Report against the branch of the value's type ("unknown exit name"), else list the types.
    const types = anyOf.map((s) => (s as JsonSchema)['type']);
    const same = types.findIndex((t) => typeof t === 'string' && typeMatches(t, value));
    if (same >= 0) return problems[same];
    return `'${path}' must be ${types.filter((t) => typeof t === 'string').join(' or ')} (got ${describe(value)}).`;
  }
  const type = schema['type'];
  if (typeof type === 'string' && !typeMatches(type, value)) {
    const article = /^[aeiou]/.test(type) ? 'an' : 'a';
    return `'${path}' must be ${article} ${type} (got ${describe(value)}).`;
  }
  const allowed = schema['enum'];
  if (Array.isArray(allowed) && !allowed.includes(value as JsonValue)) {
    const shown = allowed.length <= 8 ? allowed.map((a) => JSON.stringify(a)).join(', ') : `one of ${allowed.length} values`;
    return `'${path}' must be ${allowed.length <= 8 ? 'one of ' : ''}${shown} (got ${describe(value)}).`;
  }
  if (typeof value === 'number') {
    const min = schema['minimum'];
    const max = schema['maximum'];
    if ((typeof min === 'number' && value < min) || (typeof max === 'number' && value > max)) {
      const range = typeof max === 'number' ? `from ${min ?? '-∞'} to ${max}` : `at least ${min}`;
      return `'${path}' must be ${range} (got ${describe(value)}).`;
    }
  }
  const pattern = schema['pattern'];
  if (typeof value === 'string' && typeof pattern === 'string' && !new RegExp(pattern).test(value)) {
    return `'${path}' is not in the expected form (got ${describe(value)}).`;
  }
  const items = schema['items'];
  if (Array.isArray(value) && items && typeof items === 'object' && !Array.isArray(items)) {
    for (let i = 0; i < value.length; i++) {
      const p = schemaProblem(items, value[i], `${path}[${i}]`);
      if (p) return p;
    }
  }
  const properties = schema['properties'];
  if (properties && typeof properties === 'object' && !Array.isArray(properties) && typeMatches('object', value)) {
    const object = value as Record<string, unknown>;
    for (const [key, v] of Object.entries(object)) {
      const sub = properties[key];
      if (sub && typeof sub === 'object' && !Array.isArray(sub)) {
        const p = schemaProblem(sub, v, `${path}.${key}`);
        if (p) return p;
      } else if (schema['additionalProperties'] === false) {
        return `'${path}' has no property '${key}' (known: ${Object.keys(properties).join(', ')}).`;
      }
    }
  }
  return undefined;
}

/**
 * The first problem of a launch configuration, as a message naming the
 * attribute, or undefined when it can launch. The `vm` object is checked only
 * for its shape here; the session validates its contents with the VM
 * configuration parser and reports by path.
 */
export function launchConfigurationProblem(config: Readonly<Record<string, unknown>>): string | undefined {
  for (const a of LAUNCH_ATTRIBUTES) {
    const value = config[a.name];
    if (value === undefined) continue;
    const schema = a.name === 'vm' ? { anyOf: [{ type: 'string' }, { type: 'object' }] } : a.schema;
    const problem = schemaProblem(schema, value, a.name);
    if (problem) return problem;
  }
  try {
    parseLaunchConfig(config);
  } catch (e) {
    if (e instanceof LaunchError) return e.message;
    throw e;
  }
  return undefined;
}
