// The tree the Variables view shows, independent of DAP: the session turns
// nodes into DAP variables with handles, loading children only when the user
// expands a node (page tables are large; nothing is built whole).

/** How a value is written: hexadecimal (the default) or decimal. */
export interface FormatOptions {
  hex: boolean;
}

export interface VarNode {
  name: string;
  /** The value as shown; formatting follows the options passed to the builder. */
  value: string;
  /** e.g. "u32", "flag", "VMCS natural-width field"; shown on hover. */
  type?: string;
  /** An expression the debug console's `evaluate` accepts for this value (also used for watch and data breakpoints). */
  evaluateName?: string;
  /** Children, built only when asked for. */
  children?: () => VarNode[];
  /** Number of children when known without building them (DAP indexedVariables for paging large tables). */
  indexedCount?: number;
  /** Children in a range, for large arrays (page tables): start and count as DAP paging gives them. */
  childrenRange?: (start: number, count: number) => VarNode[];
  /** A DAP memory reference (e.g. "gva:0x1000", "gpa:0x2000", "hpa:0x1f400000") that opens the Memory view there. */
  memoryReference?: string;
  /** Present when the value can be changed; returns the new shown value or throws an Error whose message says why not. */
  set?: (text: string) => string;
  /** DAP presentation hint kind/attributes, e.g. { kind: 'property', attributes: ['readOnly'] }. */
  hint?: { kind?: string; attributes?: string[] };
  /** The value changed since the previous stop (the view highlights it). */
  changed?: boolean;
  /** Why a value without `set` cannot be changed, for the message of a refused edit. */
  readOnlyReason?: string;
}
