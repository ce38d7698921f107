// Categories where our CPU is known to disagree with Bochs. Each entry turns
// the category's test into a node:test todo with the reason given, so the
// suite passes while still listing the differences. Remove an entry once the
// CPU is fixed (a todo test that passes is reported but does not fail).
//
// Example:
//   'bsf-bsr': { undefined: 'bsf/bsr with a non-zero source keep CF OF SF AF PF unchanged' },
//   string: { defined: 'rep movsd with the destination 2 bytes above the source copies bytes' },

export interface KnownBug {
  /** Reason when results the SDM defines differ. */
  defined?: string;
  /** Reason when only undefined flags (or implementation-defined results) differ. */
  undefined?: string;
}

export const KNOWN_BUGS: Record<string, KnownBug> = {};
