// The cycle cost model: a data table of cycles per exit, handler, string I/O
// element, page-walk level and guest instruction class (docs/vmm-costs.md).
export { CycleCostModel, defaultCostModel, classifyInstruction, twoDimensionalWalkRefs } from './model';
export type { ExitCostBreakdown } from './model';
export { DEFAULT_COST_TABLE, INSTRUCTION_CLASSES, mergeCostTable } from './table';
export type { CostTable, CostTableOverride, InstructionClass } from './table';
