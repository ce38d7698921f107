// The package.json `contributes.debuggers` entry of the `hyperstep` debug
// type (launch schema, snippets, initial configuration), generated from the
// session's attribute table, LAUNCH_ATTRIBUTES in src/debug/launchConfig.ts,
// plus the refinements below that the editor can check while typing (exit
// names as an enum, bounds, the VM configuration schema). The refinements
// only narrow what parseLaunchConfig accepts anyway.
// test/extension/contributes.test.ts keeps package.json equal to
// `buildDebuggerContribution()`; `npx tsx test/extension/regen-contributes.ts`
// rewrites it. Not imported by the extension at run time.

import { exitReason } from '../vmm/vmx/exit-reasons';
import { buildVmConfigSchema, type JsonSchema } from '../vmm/config/schema';
import { LAUNCH_ATTRIBUTES as SESSION_ATTRIBUTES, type LaunchAttribute as SessionAttribute } from '../debug/launchConfig';
import { PRODUCED_EXIT_REASONS, SPECIAL_FILTERS } from '../debug/runtimeExits';
import { DEBUG_TYPE } from './configuration';

type JsonValue = JsonSchema[string];

export interface LaunchAttribute {
  name: string;
  /** JSON schema of the value (type, enum, bounds); description and default are added from the fields below. */
  schema: JsonSchema;
  description: string;
  default?: JsonValue;
  required?: boolean;
  /** The `hyperstep run` flag with the same meaning, when there is one. */
  cli?: string;
}

/** Marks where buildDebuggerContribution inlines the VM configuration schema. */
const VM_CONFIG = '#vm-config';

/** Exit filters `breakOnExits` takes: the reasons the simulator produces, by number and name, and the special filters. */
export const EXIT_FILTER_NUMBERS: readonly number[] = PRODUCED_EXIT_REASONS;
export const EXIT_FILTER_NAMES: readonly string[] = [
  ...PRODUCED_EXIT_REASONS.map((n) => exitReason(n)?.name).filter((n): n is string => n !== undefined),
  ...SPECIAL_FILTERS.map((f) => f.id),
];

interface Refinement {
  /** Replaces the attribute's type-derived schema. */
  schema?: JsonSchema;
  /** Merged into it. */
  extra?: JsonSchema;
  default?: JsonValue;
  cli?: string;
}

const REFINEMENTS: Readonly<Record<string, Refinement>> = {
  vm: { schema: { anyOf: [{ type: 'string' }, { $ref: VM_CONFIG }] }, default: {}, cli: '--vm' },
  vcpus: { extra: { type: 'integer', minimum: 1, maximum: 8 } },
  maxInstructions: { extra: { type: 'integer', minimum: 1 }, cli: '--max-instructions' },
  mode: { cli: '--mode' },
  org: {
    schema: { anyOf: [{ type: 'integer', minimum: 0, maximum: 4294967295 }, { type: 'string', pattern: '^\\s*(0[xX][0-9a-fA-F_]+|[0-9][0-9a-fA-F_]*[hH]|0[bB][01_]+|[0-9_]+)\\s*$' }] },
    default: '0x1000',
    cli: '--org',
  },
  rom: { cli: '--rom' },
  breakOnExits: {
    extra: {
      uniqueItems: true,
      items: { anyOf: [{ type: 'integer', enum: [...EXIT_FILTER_NUMBERS] }, { type: 'string', enum: [...EXIT_FILTER_NAMES] }] },
    },
  },
  console: { default: {} },
};

function fromSession(a: SessionAttribute): LaunchAttribute {
  const r = REFINEMENTS[a.name] ?? {};
  let schema: JsonSchema = { type: Array.isArray(a.type) ? [...a.type] : a.type };
  if (a.enum) schema['enum'] = [...a.enum];
  if (a.items) schema['items'] = { type: Array.isArray(a.items.type) ? [...a.items.type] : a.items.type };
  if (a.properties) {
    const properties: JsonSchema = {};
    for (const [k, p] of Object.entries(a.properties)) {
      properties[k] = { type: Array.isArray(p.type) ? [...p.type] : p.type, description: p.description, ...(p.default !== undefined ? { default: p.default as JsonValue } : {}) };
    }
    schema['properties'] = properties;
    schema['additionalProperties'] = false;
  }
  if (r.schema) schema = r.schema;
  if (r.extra) schema = { ...schema, ...r.extra };
  const def = r.default ?? (a.default as JsonValue | undefined);
  return {
    name: a.name,
    schema,
    description: a.description,
    ...(def !== undefined ? { default: def } : {}),
    ...(a.required ? { required: true } : {}),
    ...(r.cli ? { cli: r.cli } : {}),
  };
}

/** The launch attributes with their schemas, in the session's order. */
export const LAUNCH_ATTRIBUTES: readonly LaunchAttribute[] = SESSION_ATTRIBUTES.map(fromSession);

/** Names REFINEMENTS speaks of, for the test that they all exist in the session's table. */
export const REFINED_ATTRIBUTES: readonly string[] = Object.keys(REFINEMENTS);

/**
 * Replaces `$ref: "#/definitions/x"` by the definition, recursively: the schema
 * sits inside launch.json's schema, where its own `#/definitions` do not resolve.
 */
export function inlineDefinitions(schema: JsonSchema): JsonSchema {
  const definitions = (schema['definitions'] ?? {}) as Record<string, JsonSchema>;
  const walk = (value: JsonValue, depth: number): JsonValue => {
    if (depth > 32) throw new Error('schema definitions nest too deeply to inline');
    if (Array.isArray(value)) return value.map((v) => walk(v, depth));
    if (value === null || typeof value !== 'object') return value;
    const ref = value['$ref'];
    if (typeof ref === 'string' && ref.startsWith('#/definitions/')) {
      const target = definitions[ref.slice('#/definitions/'.length)];
      if (!target) throw new Error(`unknown definition ${ref}`);
      const { $ref: _ref, ...rest } = value;
      return { ...(walk(target, depth + 1) as JsonSchema), ...(walk(rest, depth) as JsonSchema) };
    }
    const out: JsonSchema = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === 'definitions' || k === '$schema' || k === '$id') continue;
      out[k] = walk(v, depth);
    }
    return out;
  };
  return walk(schema, 0) as JsonSchema;
}

/** Nested sections bigger than this are declared only by type and description in the launch schema. */
const INLINE_BUDGET = 2500;

/**
 * The VM configuration schema as launch.json's `vm` attribute: inlined, but
 * with the large sections (`controls`, `costModel`) cut down to their type and
 * description, which keeps package.json small. VM configuration files get the
 * full schema through the `jsonValidation` contribution.
 */
export function launchVmSchema(): JsonSchema {
  const full = inlineDefinitions(buildVmConfigSchema());
  const properties: JsonSchema = {};
  for (const [name, value] of Object.entries((full['properties'] ?? {}) as Record<string, JsonSchema>)) {
    if (JSON.stringify(value, null, 2).length <= INLINE_BUDGET) {
      properties[name] = value;
      continue;
    }
    const description = typeof value['description'] === 'string' ? value['description'] : name;
    properties[name] = { type: 'object', description: `${description} (see docs/vm-config.md; checked in full in VM configuration files)`, default: {} };
  }
  const { title: _title, ...rest } = full;
  return { ...rest, properties };
}

function attributeSchema(a: LaunchAttribute, vmConfig: JsonSchema): JsonSchema {
  const replace = (value: JsonValue): JsonValue => {
    if (Array.isArray(value)) return value.map(replace);
    if (value === null || typeof value !== 'object') return value;
    if (value['$ref'] === VM_CONFIG) return vmConfig;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replace(v)]));
  };
  const cli = a.cli ? ` (\`hyperstep run ${a.cli}\`)` : '';
  return {
    ...(replace(a.schema) as JsonSchema),
    description: a.description,
    ...(cli ? { markdownDescription: a.description + cli } : {}),
    ...(a.default !== undefined ? { default: a.default } : {}),
  };
}

interface LaunchSnippet {
  label: string;
  description: string;
  body: Record<string, JsonValue>;
}

const SNIPPETS: readonly LaunchSnippet[] = [
  {
    label: 'Hyperstep: Debug a boot sector',
    description: 'Assemble a NASM boot sector and debug it in real mode at 0x7C00, under the VMM.',
    body: { type: DEBUG_TYPE, request: 'launch', name: 'Debug boot sector', program: '${workspaceFolder}/boot.asm', stopOnEntry: true },
  },
  {
    label: 'Hyperstep: Debug a flat 32-bit kernel',
    description: 'Load a 32-bit image at an address and start it in flat protected mode.',
    body: { type: DEBUG_TYPE, request: 'launch', name: 'Debug kernel', program: '${workspaceFolder}/kernel.asm', mode: 'flat32', org: '0x100000', stopOnEntry: true },
  },
  {
    label: 'Hyperstep: Debug with a VM configuration',
    description: 'Run the guest on a VM described by a configuration file (vCPUs, paging, controls).',
    body: { type: DEBUG_TYPE, request: 'launch', name: 'Debug guest (VM config)', program: '${file}', vm: '${workspaceFolder}/vm.json', stopOnEntry: true },
  },
  {
    label: 'Hyperstep: Stop on I/O and CPUID exits',
    description: 'Debug the open file and stop at every I/O instruction and CPUID VM exit.',
    body: { type: DEBUG_TYPE, request: 'launch', name: 'Debug guest exits', program: '${file}', breakOnExits: ['IO_INSTRUCTION', 'CPUID'], console: { traceExits: true } },
  },
];

export const INITIAL_CONFIGURATION: Record<string, JsonValue> = {
  type: DEBUG_TYPE,
  request: 'launch',
  name: 'Debug guest',
  program: '${file}',
  stopOnEntry: true,
};

/** Snippet bodies are snippet text: a string value starting with ^ is inserted raw, `$` must be escaped. */
function snippetBody(body: Record<string, JsonValue>): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(body)) out[k] = typeof v === 'string' && v.includes('$') ? `^"${v.replace(/\$/g, '\\$')}"` : v;
  return out;
}

/** The parts of package.json's `contributes.debuggers[hyperstep]` made from the table. */
export function buildDebuggerContribution(): JsonSchema {
  const vmConfig = launchVmSchema();
  const properties: JsonSchema = {};
  for (const a of LAUNCH_ATTRIBUTES) properties[a.name] = attributeSchema(a, vmConfig);
  return {
    configurationAttributes: {
      launch: {
        required: LAUNCH_ATTRIBUTES.filter((a) => a.required).map((a) => a.name),
        properties,
      },
    },
    initialConfigurations: [INITIAL_CONFIGURATION],
    configurationSnippets: SNIPPETS.map((s) => ({ label: s.label, description: s.description, body: snippetBody(s.body) })),
  };
}
