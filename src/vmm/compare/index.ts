export { compareTechniques, compareStepwise, firstDivergence, COMPARE_TECHNIQUES, TECHNIQUE_LABELS } from './compare';
export type { CompareTechnique, CompareInput, CompareGuest, CompareRow, CompareResult, Divergence, EventCount } from './compare';
export { formatCompareText, formatCompareMarkdown, compareDetails, COMPARE_COLUMNS } from './format';
