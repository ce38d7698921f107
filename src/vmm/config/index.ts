// The VM configuration: schema, validator, and conversion to createVm options.
import { validateVmConfig } from './validate';
import type { ConfigError, VmConfig } from './types';

export type ParseResult = { config: VmConfig } | { errors: ConfigError[] };

/** Validates a configuration (e.g. the parsed JSON of a launch.json entry) and fills in every default. */
export function parseVmConfig(json: unknown): ParseResult {
  const r = validateVmConfig(json);
  return r.config !== undefined ? { config: r.config } : { errors: r.errors };
}

export { validateVmConfig } from './validate';
export type { ValidationResult } from './validate';
export { toVmOptions, applyControls, TableCostModel } from './convert';
export type { VmConfigOptions, ToVmOptionsResult } from './convert';
export { toSoftVmOptions, isSoftTechnique } from './soft';
export type { SoftConfigOptions, ToSoftVmOptionsResult } from './soft';
export { buildVmConfigSchema, SCHEMA_ID } from './schema';
export type { JsonSchema } from './schema';
export { closest, editDistance } from './suggest';
export { DEFAULTS, LIMITS, TECHNIQUES, PAGING_MODES, ENTRY_MODES, SLOT_KINDS, CONFIG_CONTROL_SETS } from './defaults';
export type { Technique, PagingMode, EntryMode, SlotKind, ConfigControlSet } from './defaults';
export { formatConfigError } from './types';
export type { VmConfig, ConfigError, ControlsConfig, DevicesConfig, CostModelConfig, CrConfig, IoRangeConfig, MsrEntryConfig, MemorySlotConfig } from './types';
