// A small draft-07 checker covering exactly the keywords the VM-configuration
// schema uses; an unknown keyword throws, so the schema cannot grow past what
// this checker (and so the agreement tests) understands.

type Schema = { [key: string]: unknown };

const ANNOTATIONS = new Set(['$schema', '$id', 'title', 'description', 'default', 'definitions']);
const KEYWORDS = new Set(['$ref', 'allOf', 'anyOf', 'type', 'enum', 'minimum', 'maximum', 'multipleOf', 'minLength', 'pattern',
  'properties', 'additionalProperties', 'required', 'propertyNames', 'items', 'maxItems']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function typeOk(t: string, v: unknown): boolean {
  switch (t) {
    case 'object': return isObject(v);
    case 'array': return Array.isArray(v);
    case 'string': return typeof v === 'string';
    case 'boolean': return typeof v === 'boolean';
    case 'number': return typeof v === 'number' && Number.isFinite(v);
    case 'integer': return typeof v === 'number' && Number.isInteger(v);
    case 'null': return v === null;
    default: throw new Error(`type ${t} not supported`);
  }
}

/** The JSON paths (same notation as the validator) at which `value` fails `schema`. */
export function schemaErrors(root: Schema, value: unknown): string[] {
  const run = (s: Schema, v: unknown, path: string): string[] => {
    const out: string[] = [];
    const check = (s: Schema, v: unknown, path: string): void => { out.push(...run(s, v, path)); };
    for (const k of Object.keys(s)) if (!ANNOTATIONS.has(k) && !KEYWORDS.has(k)) throw new Error(`keyword ${k} not supported`);
    const fail = (p: string): void => { out.push(p); };
    if (typeof s.$ref === 'string') {
      const name = s.$ref.replace('#/definitions/', '');
      const defs = root.definitions as Record<string, Schema>;
      if (!(name in defs)) throw new Error(`no definition ${name}`);
      check(defs[name], v, path);
    }
    if (Array.isArray(s.allOf)) for (const sub of s.allOf as Schema[]) check(sub, v, path);
    if (Array.isArray(s.anyOf)) {
      const ok = (s.anyOf as Schema[]).some((sub) => run(sub, v, path).length === 0);
      if (!ok) fail(path);
    }
    if (s.type !== undefined && !typeOk(s.type as string, v)) { fail(path); return out; }
    if (Array.isArray(s.enum) && !s.enum.includes(v)) fail(path);
    if (typeof v === 'number') {
      if (typeof s.minimum === 'number' && v < s.minimum) fail(path);
      if (typeof s.maximum === 'number' && v > s.maximum) fail(path);
      if (typeof s.multipleOf === 'number' && v % s.multipleOf !== 0) fail(path);
    }
    if (typeof v === 'string') {
      if (typeof s.minLength === 'number' && v.length < s.minLength) fail(path);
      if (typeof s.pattern === 'string' && !new RegExp(s.pattern).test(v)) fail(path);
    }
    if (Array.isArray(v)) {
      if (typeof s.maxItems === 'number' && v.length > s.maxItems) fail(path);
      if (isObject(s.items)) v.forEach((item, i) => check(s.items as Schema, item, `${path}[${i}]`));
    }
    if (isObject(v)) {
      const props = (s.properties ?? {}) as Record<string, Schema>;
      const at = (k: string): string => (path === '' ? k : `${path}.${k}`);
      for (const r of (s.required ?? []) as string[]) if (!(r in v)) fail(at(r));
      for (const [k, item] of Object.entries(v)) {
        if (isObject(s.propertyNames)) check(s.propertyNames, k, at(k));
        if (k in props) check(props[k], item, at(k));
        else if (s.additionalProperties === false) fail(at(k));
        else if (isObject(s.additionalProperties)) check(s.additionalProperties, item, at(k));
      }
    }
    return out;
  };
  return run(root, value, '');
}
