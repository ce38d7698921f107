// The published JSON Schema (draft-07) of a VM configuration. It is built from
// the same tables as the validator (control names, exit reasons, defaults) so
// the two cannot drift; schemas/vm-config.schema.json is this object printed
// with two-space indentation, and a test keeps the file equal to it.

import { CONTROL_SETS, EXCEPTION_MNEMONICS, EXIT_REASONS } from '../vmx';
import {
  CONFIG_CONTROL_SETS, DEFAULTS, ENTRY_MODES, LIMITS, PAGING_MODES, SLOT_KINDS, TECHNIQUES, defaultExceptionNames,
} from './defaults';
import { DEFAULT_COST_TABLE, INSTRUCTION_CLASSES } from '../cost';

export type JsonSchema = { [key: string]: JsonValue };
type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export const SCHEMA_ID = 'https://hyperstep.dev/schemas/vm-config.schema.json';

/** Hex strings are accepted wherever JSON would force a decimal address ("0x3F8"). */
const HEX_U32 = '^0[xX][0-9a-fA-F]{1,8}$';
const HEX_PORT = '^0[xX][0-9a-fA-F]{1,4}$';
const HEX_PAGE = '^0[xX][0-9a-fA-F]{0,5}000$';
const HEX_SIZE = '^0[xX][0-9a-fA-F]{1,6}000$';
export const CPUID_LEAF_PATTERN = '^(0[xX][0-9a-fA-F]{1,8}|[0-9]{1,10})$';

// draft-07 ignores the siblings of $ref, so descriptions and defaults sit beside an allOf.
const ref = (name: string, description: string, extra: JsonSchema = {}): JsonSchema => ({ allOf: [{ $ref: `#/definitions/${name}` }], description, ...extra });
const bool = (description: string, def: boolean): JsonSchema => ({ type: 'boolean', description, default: def });
const cycles = (description: string, def: number): JsonSchema => ({ type: 'number', minimum: 0, default: def, description });
const hex = (n: number): string => `0x${n.toString(16).toUpperCase()}`;

function object(description: string, properties: Record<string, JsonSchema>, def: JsonValue = {}, required: string[] = []): JsonSchema {
  return { type: 'object', description, properties, additionalProperties: false, ...(required.length ? { required } : {}), default: def };
}

function controlSetSchema(id: (typeof CONFIG_CONTROL_SETS)[number]): JsonSchema {
  const set = CONTROL_SETS.find((s) => s.id === id);
  const properties: Record<string, JsonSchema> = {};
  for (const c of set?.controls ?? []) properties[c.name] = { type: 'boolean', description: `bit ${c.bit}: ${c.description}` };
  return object(`Overrides of the ${set?.title ?? id} by SDM control name: true sets the bit, false clears it. Unlisted controls keep the KVM-like defaults.`, properties);
}

export function buildVmConfigSchema(): JsonSchema {
  const mnemonics = Object.values(EXCEPTION_MNEMONICS);
  const reasons: Record<string, JsonSchema> = {};
  for (const r of EXIT_REASONS) reasons[r.name] = { type: 'number', minimum: 0, description: `exit ${r.number}: ${r.sdmName}` };
  // Control sets and exit reasons live in definitions: shallower nesting keeps the printed file small.
  const controls: Record<string, JsonSchema> = {};
  const controlDefinitions: Record<string, JsonSchema> = {};
  for (const id of CONFIG_CONTROL_SETS) {
    controlDefinitions[`${id}Controls`] = controlSetSchema(id);
    controls[id] = { $ref: `#/definitions/${id}Controls` };
  }
  const cr = (n: 0 | 4, mask: number): JsonSchema => object(`CR${n} guest/host mask and read shadow.`, {
    mask: ref('u32', `CR${n}_GUEST_HOST_MASK: bits set are host-owned; the guest's writes to them against the read shadow exit.`, { default: hex(mask) }),
    readShadow: ref('u32', `CR${n}_READ_SHADOW: what the guest reads for host-owned bits. Default: the initial CR${n}${n === 4 ? ' with VMXE clear' : ''}.`),
  });
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: SCHEMA_ID,
    title: 'Hyperstep VM configuration',
    description: 'A virtual machine for the simulated VT-x hypervisor. Every property is optional: {} is one vCPU with EPT and KVM-like controls.',
    type: 'object',
    additionalProperties: false,
    default: {},
    definitions: {
      u32: { description: 'A 32-bit value: an integer or a hex string such as "0x1000".', anyOf: [{ type: 'integer', minimum: 0, maximum: LIMITS.u32 }, { type: 'string', pattern: HEX_U32 }] },
      port: { description: 'An I/O port 0..0xFFFF: an integer or a hex string such as "0x3F8".', anyOf: [{ type: 'integer', minimum: 0, maximum: LIMITS.port }, { type: 'string', pattern: HEX_PORT }] },
      pageAddress: { description: 'A 4 KiB-aligned guest-physical address below 4 GiB.', anyOf: [{ type: 'integer', minimum: 0, maximum: LIMITS.fourGiB - LIMITS.page, multipleOf: LIMITS.page }, { type: 'string', pattern: HEX_PAGE }] },
      pageSize: { description: 'A size in bytes, a positive multiple of 4 KiB up to 4 GiB.', anyOf: [{ type: 'integer', minimum: LIMITS.page, maximum: LIMITS.fourGiB, multipleOf: LIMITS.page }, { type: 'string', pattern: HEX_SIZE }] },
      ...controlDefinitions,
      exitCycles: object('Cycles per exit, by exit-reason name.', reasons),
      slot: object('One guest-physical range.', {
        kind: { type: 'string', enum: [...SLOT_KINDS], description: 'ram: read/write memory; rom: read-only memory; mmio: no backing, every access exits to a device model.' },
        base: ref('pageAddress', 'Guest-physical start address.'),
        size: ref('pageSize', 'Length in bytes.'),
      }, {}, ['kind', 'base', 'size']),
    },
    properties: {
      vcpus: { type: 'integer', minimum: LIMITS.vcpus.min, maximum: LIMITS.vcpus.max, default: DEFAULTS.vcpus, description: `Number of virtual CPUs (${LIMITS.vcpus.min}..${LIMITS.vcpus.max}).` },
      pcpus: { type: 'integer', minimum: LIMITS.pcpus.min, maximum: LIMITS.pcpus.max, description: `Simulated physical CPUs the vCPUs are scheduled on (${LIMITS.pcpus.min}..${LIMITS.pcpus.max}); default: one per vCPU.` },
      sliceInstructions: { type: 'integer', minimum: LIMITS.sliceInstructions.min, maximum: LIMITS.sliceInstructions.max, description: 'Guest instructions per scheduling time slice; default 10000, and no slicing when one vCPU has one pCPU.' },
      memory: object('Guest-physical memory.', {
        sizeMiB: { type: 'integer', minimum: LIMITS.memorySizeMiB.min, maximum: LIMITS.memorySizeMiB.max, default: DEFAULTS.memorySizeMiB, description: `Guest RAM in MiB (${LIMITS.memorySizeMiB.min}..${LIMITS.memorySizeMiB.max}).` },
        slots: { type: 'object', description: 'Named guest-physical ranges (RAM, ROM, MMIO); they may not overlap.', additionalProperties: { $ref: '#/definitions/slot' }, default: {} },
      }),
      paging: { type: 'string', enum: [...PAGING_MODES], default: DEFAULTS.paging, description: 'Second-level translation: ept (extended page tables) or shadow (the VMM keeps shadow page tables).' },
      technique: { type: 'string', enum: [...TECHNIQUES], default: DEFAULTS.technique, description: 'Virtualization technique: vtx (hardware-assisted, the default), or one of the software techniques trap-and-emulate, binary-translation, paravirt (one vCPU, a flat32 guest kernel, shadow paging; docs/techniques.md).' },
      kernelRing: { type: 'integer', enum: [1, 3], default: DEFAULTS.kernelRing, description: 'The ring trap-and-emulate and binary-translation run the guest kernel in: 1 (ring compression, the default) or 3 (kernel and user share ring 3; the VMM keeps a shadow page table per virtual privilege). paravirt runs its kernel in ring 1; vtx in ring 0 of VMX non-root operation.' },
      controls: object('VMCS control overrides on top of the KVM-like defaults.', {
        ...controls,
        exceptionBitmap: {
          type: 'array', description: 'EXCEPTION_BITMAP: the exceptions that exit, by vector (0..31) or mnemonic ("#PF"). Replaces the default.',
          items: { anyOf: [{ type: 'integer', minimum: 0, maximum: 31 }, { type: 'string', enum: mnemonics }] },
          default: defaultExceptionNames(),
        },
        ioBitmap: {
          type: 'array', description: 'I/O bitmap A/B edits, applied in order over the default (every port exits).',
          items: object('A port range.', { from: ref('port', 'First port.'), to: ref('port', 'Last port (inclusive). Default: from.'), exit: bool('true: accesses exit; false: they go straight to the device.', true) }, {}, ['from']),
          default: [],
        },
        msrBitmap: {
          type: 'array', description: 'MSR bitmap edits over the default (no MSR in 0..0x1FFF or 0xC0000000..0xC0001FFF exits).',
          items: object('One MSR.', { msr: ref('u32', 'MSR index, in 0..0x1FFF or 0xC0000000..0xC0001FFF.'), read: { type: 'boolean', description: 'Whether RDMSR exits. Default: unchanged.' }, write: { type: 'boolean', description: 'Whether WRMSR exits. Default: unchanged.' } }, {}, ['msr']),
          default: [],
        },
        pageFaultErrorCode: object('PAGE_FAULT_ERROR_CODE_MASK/MATCH (SDM 26.2): with exception-bitmap bit 14 set, a #PF exits when (error code AND mask) = match; with it clear, when they differ.', {
          mask: { ...ref('u32', 'PAGE_FAULT_ERROR_CODE_MASK.'), default: 0 }, match: { ...ref('u32', 'PAGE_FAULT_ERROR_CODE_MATCH.'), default: 0 },
        }),
        cr0: cr(0, DEFAULTS.cr0Mask),
        cr4: cr(4, DEFAULTS.cr4Mask),
        cr3Targets: { type: 'array', maxItems: LIMITS.cr3Targets, items: { $ref: '#/definitions/u32' }, default: [], description: `CR3_TARGET_VALUE0..${LIMITS.cr3Targets - 1}: MOV to CR3 with one of these values does not exit (CR3_TARGET_COUNT = the number given).` },
        tscOffset: {
          description: 'TSC_OFFSET: added to the TSC the guest reads (64-bit two\'s complement; an integer or a hex string, "-0x..." for negative).',
          anyOf: [{ type: 'integer', minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER }, { type: 'string', pattern: '^-?0[xX][0-9a-fA-F]{1,16}$' }],
          default: DEFAULTS.tscOffset,
        },
      }),
      cpuid: {
        type: 'object', description: 'CPUID leaves that replace the defaults, keyed by leaf (decimal or "0x40000000"); missing registers are 0.',
        propertyNames: { pattern: CPUID_LEAF_PATTERN },
        additionalProperties: object('Register values of the leaf.', { eax: ref('u32', 'EAX'), ebx: ref('u32', 'EBX'), ecx: ref('u32', 'ECX'), edx: ref('u32', 'EDX') }),
        default: {},
      },
      devices: object('Platform devices.', {
        uart: object('16550A UART.', { enabled: bool('Attach the UART.', DEFAULTS.uart.enabled), port: ref('port', 'Base port (8 ports).', { default: hex(DEFAULTS.uart.port) }), irq: { type: 'integer', minimum: 0, maximum: LIMITS.irq, default: DEFAULTS.uart.irq, description: 'PIC line 0..15.' } }),
        pit: object('8254 PIT on ports 0x40-0x43, IRQ 0.', { enabled: bool('Attach the PIT.', DEFAULTS.pit.enabled) }),
        pic: object('8259A PIC pair on ports 0x20/0x21 and 0xA0/0xA1.', { enabled: bool('Attach the PIC pair.', DEFAULTS.pic.enabled) }),
        debugExit: object('Debug-exit port: a write ends the run with an exit code.', { enabled: bool('Attach the debug-exit port.', DEFAULTS.debugExit.enabled), port: ref('port', 'Port.', { default: hex(DEFAULTS.debugExit.port) }) }),
        virtioConsole: object('virtio console with split virtqueues (legacy virtio register layout at a fixed port, no PCI configuration space; docs/vmm-virtio.md).', {
          enabled: bool('Attach the virtio console.', DEFAULTS.virtioConsole.enabled),
          port: ref('port', 'Base port of the register block.', { default: hex(DEFAULTS.virtioConsole.port) }),
          irq: { type: 'integer', minimum: 0, maximum: LIMITS.irq, default: DEFAULTS.virtioConsole.irq, description: 'PIC line 0..15.' },
        }),
      }),
      costModel: object('The cycle cost model of the exit statistics (docs/vmm-costs.md): overrides of the default table.', {
        name: { type: 'string', minLength: 1, default: DEFAULTS.costModelName, description: 'Name shown with the statistics.' },
        perExit: { type: 'number', minimum: 0, default: DEFAULTS.costPerExit, description: 'Flat cycles for an exit whose reason is not listed in reasons, replacing roundTrip + handler; 0: no flat cost.' },
        reasons: { $ref: '#/definitions/exitCycles' },
        roundTrip: cycles('Hardware VM exit + VM entry round trip, charged on every exit.', DEFAULT_COST_TABLE.roundTrip),
        handlers: ref('exitCycles', 'Root-mode handler cycles per exit reason, merged over the default table.', { default: { ...DEFAULT_COST_TABLE.handlers } }),
        defaultHandler: cycles('Root-mode handler cycles for a reason handlers does not list.', DEFAULT_COST_TABLE.defaultHandler),
        stringIoPerElement: cycles('Extra cycles per element of a string I/O instruction (INS/OUTS, REP count).', DEFAULT_COST_TABLE.stringIoPerElement),
        instruction: object('Cycles per guest instruction class; string is per iteration.', Object.fromEntries(INSTRUCTION_CLASSES.map((k) => [k, cycles(`Cycles of one ${k} instruction.`, DEFAULT_COST_TABLE.instruction[k])])), { ...DEFAULT_COST_TABLE.instruction }),
        walkLevel: cycles('Cycles per paging-structure level walked (EPT violation, shadow-paging #PF, TLB miss estimate).', DEFAULT_COST_TABLE.walkLevel),
        guestLevels: { type: 'integer', minimum: 0, maximum: 5, default: DEFAULT_COST_TABLE.guestLevels, description: 'Levels of the guest page tables (32-bit paging: 2).' },
        eptLevels: { type: 'integer', minimum: 0, maximum: 5, default: DEFAULT_COST_TABLE.eptLevels, description: 'Levels of the extended page tables (4).' },
      }),
      entry: object('How the guest image is loaded and started.', {
        mode: { type: 'string', enum: [...ENTRY_MODES], default: DEFAULTS.entryMode, description: 'real: boot sector at 0x7C00 (unrestricted guest); flat32: flat 32-bit protected mode at org.' },
        org: ref('u32', 'Load and start address in flat32 mode.', { default: hex(DEFAULTS.org) }),
      }),
    },
  };
}
