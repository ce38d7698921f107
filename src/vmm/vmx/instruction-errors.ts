// VM-instruction error numbers (vmx-facts §8; SDM Vol. 3 "VM-Instruction Error
// Numbers"): what VM_INSTRUCTION_ERROR holds after a VMfailValid.

export interface VmInstructionError {
  number: number;
  /** Linux `enum vm_instruction_error_number` name. */
  name: string;
  message: string;
}

const ROWS: readonly [number, string, string][] = [
  [1, 'VMXERR_VMCALL_IN_VMX_ROOT_OPERATION', 'VMCALL executed in VMX root operation'],
  [2, 'VMXERR_VMCLEAR_INVALID_ADDRESS', 'VMCLEAR with invalid physical address'],
  [3, 'VMXERR_VMCLEAR_VMXON_POINTER', 'VMCLEAR with VMXON pointer'],
  [4, 'VMXERR_VMLAUNCH_NONCLEAR_VMCS', 'VMLAUNCH with non-clear VMCS'],
  [5, 'VMXERR_VMRESUME_NONLAUNCHED_VMCS', 'VMRESUME with non-launched VMCS'],
  [6, 'VMXERR_VMRESUME_AFTER_VMXOFF', 'VMRESUME after VMXOFF'],
  [7, 'VMXERR_ENTRY_INVALID_CONTROL_FIELD', 'VM entry with invalid control field(s)'],
  [8, 'VMXERR_ENTRY_INVALID_HOST_STATE_FIELD', 'VM entry with invalid host-state field(s)'],
  [9, 'VMXERR_VMPTRLD_INVALID_ADDRESS', 'VMPTRLD with invalid physical address'],
  [10, 'VMXERR_VMPTRLD_VMXON_POINTER', 'VMPTRLD with VMXON pointer'],
  [11, 'VMXERR_VMPTRLD_INCORRECT_VMCS_REVISION_ID', 'VMPTRLD with incorrect VMCS revision identifier'],
  [12, 'VMXERR_UNSUPPORTED_VMCS_COMPONENT', 'VMREAD/VMWRITE from/to unsupported VMCS component'],
  [13, 'VMXERR_VMWRITE_READ_ONLY_VMCS_COMPONENT', 'VMWRITE to read-only VMCS component'],
  [15, 'VMXERR_VMXON_IN_VMX_ROOT_OPERATION', 'VMXON executed in VMX root operation'],
  [16, 'VMXERR_ENTRY_INVALID_EXECUTIVE_VMCS_POINTER', 'VM entry with invalid executive-VMCS pointer'],
  [17, 'VMXERR_ENTRY_NONLAUNCHED_EXECUTIVE_VMCS', 'VM entry with non-launched executive VMCS'],
  [18, 'VMXERR_ENTRY_EXECUTIVE_VMCS_POINTER_NOT_VMXON_POINTER', 'VM entry with executive-VMCS pointer not VMXON pointer'],
  [19, 'VMXERR_VMCALL_NONCLEAR_VMCS', 'VMCALL with non-clear VMCS'],
  [20, 'VMXERR_VMCALL_INVALID_VM_EXIT_CONTROL_FIELDS', 'VMCALL with invalid VM-exit control fields'],
  [22, 'VMXERR_VMCALL_INCORRECT_MSEG_REVISION_ID', 'VMCALL with incorrect MSEG revision identifier'],
  [23, 'VMXERR_VMXOFF_UNDER_DUAL_MONITOR_TREATMENT_OF_SMIS_AND_SMM', 'VMXOFF under dual-monitor treatment of SMIs and SMM'],
  [24, 'VMXERR_VMCALL_INVALID_SMM_MONITOR_FEATURES', 'VMCALL with invalid SMM-monitor features'],
  [25, 'VMXERR_ENTRY_INVALID_VM_EXECUTION_CONTROL_FIELDS_IN_EXECUTIVE_VMCS', 'VM entry with invalid VM-execution control fields in executive VMCS'],
  [26, 'VMXERR_ENTRY_EVENTS_BLOCKED_BY_MOV_SS', 'VM entry with events blocked by MOV SS'],
  [28, 'VMXERR_INVALID_OPERAND_TO_INVEPT_INVVPID', 'Invalid operand to INVEPT/INVVPID'],
];

export const VM_INSTRUCTION_ERRORS: readonly VmInstructionError[] = ROWS.map(([number, name, message]) => ({ number, name, message }));

const BY_NUMBER = new Map(VM_INSTRUCTION_ERRORS.map((e) => [e.number, e]));

export const VMXERR_UNSUPPORTED_VMCS_COMPONENT = 12;
export const VMXERR_VMWRITE_READ_ONLY_VMCS_COMPONENT = 13;

export function vmInstructionError(number: number): VmInstructionError | undefined {
  return BY_NUMBER.get(number);
}

/** "12: VMREAD/VMWRITE from/to unsupported VMCS component"; 0 means no error recorded. */
export function vmInstructionErrorText(number: number): string {
  if (number === 0) return '0: no error';
  const e = BY_NUMBER.get(number);
  return `${number}: ${e ? e.message : 'reserved error number'}`;
}

/** Exit qualification of a VM-entry failure (exit 33/34 with bit 31 set). */
export const ENTRY_FAILURE_QUALIFICATIONS: readonly { value: number; name: string; message: string }[] = [
  { value: 0, name: 'ENTRY_FAIL_DEFAULT', message: 'no further information' },
  { value: 2, name: 'ENTRY_FAIL_PDPTE', message: 'loading a PDPTE failed' },
  { value: 3, name: 'ENTRY_FAIL_NMI', message: 'NMI injection conflicts with NMI blocking' },
  { value: 4, name: 'ENTRY_FAIL_VMCS_LINK_PTR', message: 'invalid VMCS link pointer' },
];
