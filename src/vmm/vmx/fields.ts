// Every VMCS field the simulated processor supports: encoding, name, width and
// SDM group. Names are the Linux `enum vmcs_field` names (vmx-facts §2), the
// ones the product shows; a few fields come from later mainline (CET state) or
// from Bochs (the I/O SMI exit-information fields), marked by `source`.
//
// The width column is written out rather than computed so that the tests can
// check every row against the encoding's own bits (encoding.ts).
import { decodeEncoding, type FieldType, type FieldWidth } from './encoding';

/** SDM grouping (Vol. 3, "Organization of VMCS data"): controls split by what they control. */
export type FieldGroup = 'guest-state' | 'host-state' | 'execution-control' | 'exit-control' | 'entry-control' | 'exit-information';

export const GROUP_TITLES: Readonly<Record<FieldGroup, string>> = {
  'guest-state': 'guest-state area',
  'host-state': 'host-state area',
  'execution-control': 'VM-execution control fields',
  'exit-control': 'VM-exit control fields',
  'entry-control': 'VM-entry control fields',
  'exit-information': 'VM-exit information fields',
};

/** The encoding type (bits 11:10) each group must carry. */
export const GROUP_TYPE: Readonly<Record<FieldGroup, FieldType>> = {
  'guest-state': 'guest-state',
  'host-state': 'host-state',
  'execution-control': 'control',
  'exit-control': 'control',
  'entry-control': 'control',
  'exit-information': 'exit-information',
};

export type FieldSource = 'linux' | 'mainline' | 'bochs';

type N = 'natural';
const n: N = 'natural';
type G = FieldGroup;
const X: G = 'execution-control', XT: G = 'exit-control', EN: G = 'entry-control', I: G = 'exit-information', GS: G = 'guest-state', HS: G = 'host-state';

// [name, encoding, width, group, description, source?]
const ROWS = [
  // 16-bit
  ['VIRTUAL_PROCESSOR_ID', 0x0000, 16, X, 'VPID tagging this guest\'s TLB entries (0 = VPID off)'],
  ['POSTED_INTR_NV', 0x0002, 16, X, 'posted-interrupt notification vector'],
  ['LAST_PID_POINTER_INDEX', 0x0008, 16, X, 'last valid index of the PID-pointer table (IPI virtualization)'],
  ['GUEST_ES_SELECTOR', 0x0800, 16, GS, 'guest ES selector'],
  ['GUEST_CS_SELECTOR', 0x0802, 16, GS, 'guest CS selector'],
  ['GUEST_SS_SELECTOR', 0x0804, 16, GS, 'guest SS selector'],
  ['GUEST_DS_SELECTOR', 0x0806, 16, GS, 'guest DS selector'],
  ['GUEST_FS_SELECTOR', 0x0808, 16, GS, 'guest FS selector'],
  ['GUEST_GS_SELECTOR', 0x080a, 16, GS, 'guest GS selector'],
  ['GUEST_LDTR_SELECTOR', 0x080c, 16, GS, 'guest LDTR selector'],
  ['GUEST_TR_SELECTOR', 0x080e, 16, GS, 'guest TR selector'],
  ['GUEST_INTR_STATUS', 0x0810, 16, GS, 'guest interrupt status: RVI (bits 7:0), SVI (bits 15:8)'],
  ['GUEST_PML_INDEX', 0x0812, 16, GS, 'next free entry of the page-modification log'],
  ['HOST_ES_SELECTOR', 0x0c00, 16, HS, 'host ES selector loaded on VM exit'],
  ['HOST_CS_SELECTOR', 0x0c02, 16, HS, 'host CS selector loaded on VM exit'],
  ['HOST_SS_SELECTOR', 0x0c04, 16, HS, 'host SS selector loaded on VM exit'],
  ['HOST_DS_SELECTOR', 0x0c06, 16, HS, 'host DS selector loaded on VM exit'],
  ['HOST_FS_SELECTOR', 0x0c08, 16, HS, 'host FS selector loaded on VM exit'],
  ['HOST_GS_SELECTOR', 0x0c0a, 16, HS, 'host GS selector loaded on VM exit'],
  ['HOST_TR_SELECTOR', 0x0c0c, 16, HS, 'host TR selector loaded on VM exit'],
  // 64-bit
  ['IO_BITMAP_A', 0x2000, 64, X, 'address of I/O bitmap A (ports 0x0000-0x7FFF)'],
  ['IO_BITMAP_B', 0x2002, 64, X, 'address of I/O bitmap B (ports 0x8000-0xFFFF)'],
  ['MSR_BITMAP', 0x2004, 64, X, 'address of the 4 KB MSR bitmap page'],
  ['VM_EXIT_MSR_STORE_ADDR', 0x2006, 64, XT, 'address of the VM-exit MSR-store area'],
  ['VM_EXIT_MSR_LOAD_ADDR', 0x2008, 64, XT, 'address of the VM-exit MSR-load area'],
  ['VM_ENTRY_MSR_LOAD_ADDR', 0x200a, 64, EN, 'address of the VM-entry MSR-load area'],
  ['PML_ADDRESS', 0x200e, 64, X, 'address of the page-modification log'],
  ['TSC_OFFSET', 0x2010, 64, X, 'added to the TSC the guest reads (TSC offsetting)'],
  ['VIRTUAL_APIC_PAGE_ADDR', 0x2012, 64, X, 'address of the virtual-APIC page (TPR shadow)'],
  ['APIC_ACCESS_ADDR', 0x2014, 64, X, 'guest-physical address of the APIC-access page'],
  ['POSTED_INTR_DESC_ADDR', 0x2016, 64, X, 'address of the posted-interrupt descriptor'],
  ['VM_FUNCTION_CONTROL', 0x2018, 64, X, 'VM functions the guest may invoke with VMFUNC'],
  ['EPT_POINTER', 0x201a, 64, X, 'EPTP: EPT PML4 address, memory type, walk length, A/D enable'],
  ['EOI_EXIT_BITMAP0', 0x201c, 64, X, 'EOI-exit bitmap, vectors 0-63'],
  ['EOI_EXIT_BITMAP1', 0x201e, 64, X, 'EOI-exit bitmap, vectors 64-127'],
  ['EOI_EXIT_BITMAP2', 0x2020, 64, X, 'EOI-exit bitmap, vectors 128-191'],
  ['EOI_EXIT_BITMAP3', 0x2022, 64, X, 'EOI-exit bitmap, vectors 192-255'],
  ['EPTP_LIST_ADDRESS', 0x2024, 64, X, 'address of the EPTP list (EPTP switching via VMFUNC)'],
  ['VMREAD_BITMAP', 0x2026, 64, X, 'address of the VMREAD bitmap (VMCS shadowing)'],
  ['VMWRITE_BITMAP', 0x2028, 64, X, 'address of the VMWRITE bitmap (VMCS shadowing)'],
  ['VE_INFORMATION_ADDRESS', 0x202a, 64, X, 'address of the virtualization-exception information area'],
  ['XSS_EXIT_BITMAP', 0x202c, 64, X, 'XSS-exiting bitmap for XSAVES/XRSTORS'],
  ['ENCLS_EXITING_BITMAP', 0x202e, 64, X, 'ENCLS-exiting bitmap (one bit per ENCLS leaf)'],
  ['TSC_MULTIPLIER', 0x2032, 64, X, 'TSC multiplier (TSC scaling)'],
  ['TERTIARY_VM_EXEC_CONTROL', 0x2034, 64, X, 'tertiary processor-based VM-execution controls'],
  ['PID_POINTER_TABLE', 0x2042, 64, X, 'address of the PID-pointer table (IPI virtualization)'],
  ['GUEST_PHYSICAL_ADDRESS', 0x2400, 64, I, 'guest-physical address of an EPT violation or misconfiguration'],
  ['VMCS_LINK_POINTER', 0x2800, 64, GS, 'VMCS link pointer (shadow VMCS; all ones when unused)'],
  ['GUEST_IA32_DEBUGCTL', 0x2802, 64, GS, 'guest IA32_DEBUGCTL'],
  ['GUEST_IA32_PAT', 0x2804, 64, GS, 'guest IA32_PAT'],
  ['GUEST_IA32_EFER', 0x2806, 64, GS, 'guest IA32_EFER'],
  ['GUEST_IA32_PERF_GLOBAL_CTRL', 0x2808, 64, GS, 'guest IA32_PERF_GLOBAL_CTRL'],
  ['GUEST_PDPTR0', 0x280a, 64, GS, 'guest PAE page-directory-pointer-table entry 0'],
  ['GUEST_PDPTR1', 0x280c, 64, GS, 'guest PAE page-directory-pointer-table entry 1'],
  ['GUEST_PDPTR2', 0x280e, 64, GS, 'guest PAE page-directory-pointer-table entry 2'],
  ['GUEST_PDPTR3', 0x2810, 64, GS, 'guest PAE page-directory-pointer-table entry 3'],
  ['GUEST_BNDCFGS', 0x2812, 64, GS, 'guest IA32_BNDCFGS'],
  ['GUEST_IA32_RTIT_CTL', 0x2814, 64, GS, 'guest IA32_RTIT_CTL'],
  ['HOST_IA32_PAT', 0x2c00, 64, HS, 'host IA32_PAT loaded on VM exit'],
  ['HOST_IA32_EFER', 0x2c02, 64, HS, 'host IA32_EFER loaded on VM exit'],
  ['HOST_IA32_PERF_GLOBAL_CTRL', 0x2c04, 64, HS, 'host IA32_PERF_GLOBAL_CTRL loaded on VM exit'],
  // 32-bit
  ['PIN_BASED_VM_EXEC_CONTROL', 0x4000, 32, X, 'pin-based VM-execution controls'],
  ['CPU_BASED_VM_EXEC_CONTROL', 0x4002, 32, X, 'primary processor-based VM-execution controls'],
  ['EXCEPTION_BITMAP', 0x4004, 32, X, 'exception bitmap: bit n set = exception vector n exits'],
  ['PAGE_FAULT_ERROR_CODE_MASK', 0x4006, 32, X, '#PF error-code mask (filters #PF exits)'],
  ['PAGE_FAULT_ERROR_CODE_MATCH', 0x4008, 32, X, '#PF error-code match (filters #PF exits)'],
  ['CR3_TARGET_COUNT', 0x400a, 32, X, 'how many CR3-target values are in use'],
  ['VM_EXIT_CONTROLS', 0x400c, 32, XT, 'primary VM-exit controls'],
  ['VM_EXIT_MSR_STORE_COUNT', 0x400e, 32, XT, 'entries in the VM-exit MSR-store area'],
  ['VM_EXIT_MSR_LOAD_COUNT', 0x4010, 32, XT, 'entries in the VM-exit MSR-load area'],
  ['VM_ENTRY_CONTROLS', 0x4012, 32, EN, 'VM-entry controls'],
  ['VM_ENTRY_MSR_LOAD_COUNT', 0x4014, 32, EN, 'entries in the VM-entry MSR-load area'],
  ['VM_ENTRY_INTR_INFO_FIELD', 0x4016, 32, EN, 'event to inject on VM entry (interruption-information format)'],
  ['VM_ENTRY_EXCEPTION_ERROR_CODE', 0x4018, 32, EN, 'error code pushed for the injected exception'],
  ['VM_ENTRY_INSTRUCTION_LEN', 0x401a, 32, EN, 'instruction length for injected software interrupts/exceptions'],
  ['TPR_THRESHOLD', 0x401c, 32, X, 'TPR threshold (exit 43 when the virtual TPR drops below it)'],
  ['SECONDARY_VM_EXEC_CONTROL', 0x401e, 32, X, 'secondary processor-based VM-execution controls'],
  ['PLE_GAP', 0x4020, 32, X, 'PAUSE-loop exiting gap'],
  ['PLE_WINDOW', 0x4022, 32, X, 'PAUSE-loop exiting window'],
  ['NOTIFY_WINDOW', 0x4024, 32, X, 'notify window (exit 75 when no event window opens within it)'],
  ['VM_INSTRUCTION_ERROR', 0x4400, 32, I, 'error number of the last VMX instruction that failed with VMfailValid'],
  ['VM_EXIT_REASON', 0x4402, 32, I, 'exit reason: basic reason in bits 15:0, flags above'],
  ['VM_EXIT_INTR_INFO', 0x4404, 32, I, 'VM-exit interruption information (event that caused the exit)'],
  ['VM_EXIT_INTR_ERROR_CODE', 0x4406, 32, I, 'error code of that event'],
  ['IDT_VECTORING_INFO_FIELD', 0x4408, 32, I, 'event being delivered through the IDT when the exit happened'],
  ['IDT_VECTORING_ERROR_CODE', 0x440a, 32, I, 'error code of that event'],
  ['VM_EXIT_INSTRUCTION_LEN', 0x440c, 32, I, 'length of the instruction that caused the exit'],
  ['VMX_INSTRUCTION_INFO', 0x440e, 32, I, 'operand details of the instruction that caused the exit'],
  ['GUEST_ES_LIMIT', 0x4800, 32, GS, 'guest ES segment limit'],
  ['GUEST_CS_LIMIT', 0x4802, 32, GS, 'guest CS segment limit'],
  ['GUEST_SS_LIMIT', 0x4804, 32, GS, 'guest SS segment limit'],
  ['GUEST_DS_LIMIT', 0x4806, 32, GS, 'guest DS segment limit'],
  ['GUEST_FS_LIMIT', 0x4808, 32, GS, 'guest FS segment limit'],
  ['GUEST_GS_LIMIT', 0x480a, 32, GS, 'guest GS segment limit'],
  ['GUEST_LDTR_LIMIT', 0x480c, 32, GS, 'guest LDTR limit'],
  ['GUEST_TR_LIMIT', 0x480e, 32, GS, 'guest TR limit'],
  ['GUEST_GDTR_LIMIT', 0x4810, 32, GS, 'guest GDTR limit'],
  ['GUEST_IDTR_LIMIT', 0x4812, 32, GS, 'guest IDTR limit'],
  ['GUEST_ES_AR_BYTES', 0x4814, 32, GS, 'guest ES access rights'],
  ['GUEST_CS_AR_BYTES', 0x4816, 32, GS, 'guest CS access rights'],
  ['GUEST_SS_AR_BYTES', 0x4818, 32, GS, 'guest SS access rights'],
  ['GUEST_DS_AR_BYTES', 0x481a, 32, GS, 'guest DS access rights'],
  ['GUEST_FS_AR_BYTES', 0x481c, 32, GS, 'guest FS access rights'],
  ['GUEST_GS_AR_BYTES', 0x481e, 32, GS, 'guest GS access rights'],
  ['GUEST_LDTR_AR_BYTES', 0x4820, 32, GS, 'guest LDTR access rights'],
  ['GUEST_TR_AR_BYTES', 0x4822, 32, GS, 'guest TR access rights'],
  ['GUEST_INTERRUPTIBILITY_INFO', 0x4824, 32, GS, 'blocking by STI / MOV SS / SMI / NMI'],
  ['GUEST_ACTIVITY_STATE', 0x4826, 32, GS, 'activity state: 0 active, 1 HLT, 2 shutdown, 3 wait-for-SIPI'],
  ['GUEST_SYSENTER_CS', 0x482a, 32, GS, 'guest IA32_SYSENTER_CS'],
  ['VMX_PREEMPTION_TIMER_VALUE', 0x482e, 32, GS, 'VMX-preemption timer count'],
  ['HOST_IA32_SYSENTER_CS', 0x4c00, 32, HS, 'host IA32_SYSENTER_CS loaded on VM exit'],
  // natural width
  ['CR0_GUEST_HOST_MASK', 0x6000, n, X, 'CR0 bits owned by the host (guest writes that change them exit)'],
  ['CR4_GUEST_HOST_MASK', 0x6002, n, X, 'CR4 bits owned by the host'],
  ['CR0_READ_SHADOW', 0x6004, n, X, 'CR0 value the guest reads for host-owned bits'],
  ['CR4_READ_SHADOW', 0x6006, n, X, 'CR4 value the guest reads for host-owned bits'],
  ['CR3_TARGET_VALUE0', 0x6008, n, X, 'CR3-target value 0 (MOV to CR3 with this value does not exit)'],
  ['CR3_TARGET_VALUE1', 0x600a, n, X, 'CR3-target value 1'],
  ['CR3_TARGET_VALUE2', 0x600c, n, X, 'CR3-target value 2'],
  ['CR3_TARGET_VALUE3', 0x600e, n, X, 'CR3-target value 3'],
  ['EXIT_QUALIFICATION', 0x6400, n, I, 'exit qualification: reason-specific detail'],
  ['IO_RCX', 0x6402, n, I, 'RCX of the I/O instruction before an I/O SMI', 'bochs'],
  ['IO_RSI', 0x6404, n, I, 'RSI of the I/O instruction before an I/O SMI', 'bochs'],
  ['IO_RDI', 0x6406, n, I, 'RDI of the I/O instruction before an I/O SMI', 'bochs'],
  ['IO_RIP', 0x6408, n, I, 'RIP of the I/O instruction before an I/O SMI', 'bochs'],
  ['GUEST_LINEAR_ADDRESS', 0x640a, n, I, 'guest linear address of the access that caused the exit'],
  ['GUEST_CR0', 0x6800, n, GS, 'guest CR0'],
  ['GUEST_CR3', 0x6802, n, GS, 'guest CR3'],
  ['GUEST_CR4', 0x6804, n, GS, 'guest CR4'],
  ['GUEST_ES_BASE', 0x6806, n, GS, 'guest ES base'],
  ['GUEST_CS_BASE', 0x6808, n, GS, 'guest CS base'],
  ['GUEST_SS_BASE', 0x680a, n, GS, 'guest SS base'],
  ['GUEST_DS_BASE', 0x680c, n, GS, 'guest DS base'],
  ['GUEST_FS_BASE', 0x680e, n, GS, 'guest FS base'],
  ['GUEST_GS_BASE', 0x6810, n, GS, 'guest GS base'],
  ['GUEST_LDTR_BASE', 0x6812, n, GS, 'guest LDTR base'],
  ['GUEST_TR_BASE', 0x6814, n, GS, 'guest TR base'],
  ['GUEST_GDTR_BASE', 0x6816, n, GS, 'guest GDTR base'],
  ['GUEST_IDTR_BASE', 0x6818, n, GS, 'guest IDTR base'],
  ['GUEST_DR7', 0x681a, n, GS, 'guest DR7'],
  ['GUEST_RSP', 0x681c, n, GS, 'guest RSP (ESP)'],
  ['GUEST_RIP', 0x681e, n, GS, 'guest RIP (EIP)'],
  ['GUEST_RFLAGS', 0x6820, n, GS, 'guest RFLAGS (EFLAGS)'],
  ['GUEST_PENDING_DBG_EXCEPTIONS', 0x6822, n, GS, 'pending debug exceptions'],
  ['GUEST_SYSENTER_ESP', 0x6824, n, GS, 'guest IA32_SYSENTER_ESP'],
  ['GUEST_SYSENTER_EIP', 0x6826, n, GS, 'guest IA32_SYSENTER_EIP'],
  ['GUEST_S_CET', 0x6828, n, GS, 'guest IA32_S_CET', 'mainline'],
  ['GUEST_SSP', 0x682a, n, GS, 'guest shadow-stack pointer', 'mainline'],
  ['GUEST_INTR_SSP_TABLE', 0x682c, n, GS, 'guest IA32_INTERRUPT_SSP_TABLE_ADDR', 'mainline'],
  ['HOST_CR0', 0x6c00, n, HS, 'host CR0 loaded on VM exit'],
  ['HOST_CR3', 0x6c02, n, HS, 'host CR3 loaded on VM exit'],
  ['HOST_CR4', 0x6c04, n, HS, 'host CR4 loaded on VM exit'],
  ['HOST_FS_BASE', 0x6c06, n, HS, 'host FS base loaded on VM exit'],
  ['HOST_GS_BASE', 0x6c08, n, HS, 'host GS base loaded on VM exit'],
  ['HOST_TR_BASE', 0x6c0a, n, HS, 'host TR base loaded on VM exit'],
  ['HOST_GDTR_BASE', 0x6c0c, n, HS, 'host GDTR base loaded on VM exit'],
  ['HOST_IDTR_BASE', 0x6c0e, n, HS, 'host IDTR base loaded on VM exit'],
  ['HOST_IA32_SYSENTER_ESP', 0x6c10, n, HS, 'host IA32_SYSENTER_ESP loaded on VM exit'],
  ['HOST_IA32_SYSENTER_EIP', 0x6c12, n, HS, 'host IA32_SYSENTER_EIP loaded on VM exit'],
  ['HOST_RSP', 0x6c14, n, HS, 'host RSP loaded on VM exit'],
  ['HOST_RIP', 0x6c16, n, HS, 'host RIP: where the VMM resumes after a VM exit'],
  ['HOST_S_CET', 0x6c18, n, HS, 'host IA32_S_CET loaded on VM exit', 'mainline'],
  ['HOST_SSP', 0x6c1a, n, HS, 'host shadow-stack pointer loaded on VM exit', 'mainline'],
  ['HOST_INTR_SSP_TABLE', 0x6c1c, n, HS, 'host IA32_INTERRUPT_SSP_TABLE_ADDR loaded on VM exit', 'mainline'],
] as const;

export type VmcsFieldName = (typeof ROWS)[number][0];

export interface VmcsField {
  name: VmcsFieldName;
  /** The "full" encoding (access type 0). */
  encoding: number;
  width: FieldWidth;
  group: FieldGroup;
  /** Type from the group; the tests check it equals encoding bits 11:10. */
  type: FieldType;
  description: string;
  source: FieldSource;
  /** True for exit-information fields: VMWRITE fails with error 13 unless IA32_VMX_MISC bit 29 is set. */
  readOnly: boolean;
}

export const VMCS_FIELDS: readonly VmcsField[] = ROWS.map((r): VmcsField => ({
  name: r[0],
  encoding: r[1],
  width: r[2],
  group: r[3],
  type: GROUP_TYPE[r[3]],
  description: r[4],
  source: ((r as readonly unknown[])[5] as FieldSource | undefined) ?? 'linux',
  readOnly: r[3] === 'exit-information',
}));

const BY_ENCODING = new Map<number, VmcsField>(VMCS_FIELDS.map((f) => [f.encoding, f]));
const BY_NAME = new Map<string, VmcsField>(VMCS_FIELDS.map((f) => [f.name, f]));

/** Field encodings by name: `VMCS.GUEST_RIP === 0x681E`. */
export const VMCS = Object.fromEntries(VMCS_FIELDS.map((f) => [f.name, f.encoding])) as Readonly<Record<VmcsFieldName, number>>;

/** The field a full encoding names, or undefined (high-half encodings are not fields of their own). */
export function fieldByEncoding(encoding: number): VmcsField | undefined {
  return BY_ENCODING.get(encoding >>> 0);
}

export function fieldByName(name: string): VmcsField | undefined {
  return BY_NAME.get(name.toUpperCase());
}

/**
 * What an access encoding (as VMREAD/VMWRITE take it) refers to: the field and
 * whether it is the high half. Undefined for encodings the processor does not
 * support, including the high access to a field that is not 64 bits wide.
 */
export function resolveAccess(encoding: number): { field: VmcsField; high: boolean } | undefined {
  const e = encoding >>> 0;
  if (!decodeEncoding(e).reservedBitsClear) return undefined;
  if ((e & 1) === 0) {
    const field = BY_ENCODING.get(e);
    return field && { field, high: false };
  }
  const field = BY_ENCODING.get(e & ~1);
  return field && field.width === 64 ? { field, high: true } : undefined;
}
