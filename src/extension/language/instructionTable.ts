// Hover text for the instructions the assembler accepts, the registers and
// the VMX instructions: one line of what it does and the flags it changes.
// Data only; hover.ts formats it. Flags are written as in the SDM's "Flags
// Affected": the ones listed are modified (set by the result), "undef" lists
// those left undefined. test/extension/language.test.ts checks that every
// mnemonic in src/x86/asm/insns.ts has an entry.

export interface InstructionDoc {
  summary: string;
  /** Flags the instruction writes, e.g. "OF SF ZF AF PF CF"; '' for none. */
  flags: string;
  /** Flags left undefined. */
  undefinedFlags?: string;
  /** Set for instructions that make a VM exit in VMX non-root operation, unconditionally or by a control. */
  vmExit?: string;
}

const ARITH = 'OF SF ZF AF PF CF';
const LOGIC = 'OF=0 CF=0 SF ZF PF';
const VMX_FLAGS = 'CF ZF (VMfailInvalid: CF=1, VMfailValid: ZF=1, success: all clear)';

type Row = [summary: string, flags: string, undefinedFlags?: string, vmExit?: string];

const ROWS: Record<string, Row> = {
  // data movement
  mov: ['Copy the source operand to the destination (also to/from segment, control and debug registers).', '', undefined, 'MOV to/from CRn: CR_ACCESS by CR masks / CR3 exiting; MOV DRn: DR_ACCESS with MOV-DR exiting'],
  movsx: ['Copy with sign extension to a wider register.', ''],
  movzx: ['Copy with zero extension to a wider register.', ''],
  xchg: ['Exchange two operands (locked when one is memory).', ''],
  xadd: ['Exchange and add: destination = sum, source = old destination.', ARITH],
  cmpxchg: ['Compare the accumulator with the destination; if equal store the source, else load the destination into the accumulator.', ARITH],
  cmpxchg8b: ['Compare EDX:EAX with a 64-bit memory operand; if equal store ECX:EBX, else load it into EDX:EAX.', 'ZF'],
  lea: ['Load the effective address of a memory operand (no memory access).', ''],
  lds: ['Load a far pointer into DS and a register.', ''],
  les: ['Load a far pointer into ES and a register.', ''],
  lfs: ['Load a far pointer into FS and a register.', ''],
  lgs: ['Load a far pointer into GS and a register.', ''],
  lss: ['Load a far pointer into SS and a register (interrupts held off for one instruction).', ''],
  push: ['Decrement the stack pointer and store the operand on the stack.', ''],
  pop: ['Load the operand from the stack and increment the stack pointer.', ''],
  pusha: ['Push all 16/32-bit general registers (by operand size).', ''],
  pushaw: ['Push AX, CX, DX, BX, original SP, BP, SI, DI.', ''],
  pushad: ['Push EAX, ECX, EDX, EBX, original ESP, EBP, ESI, EDI.', ''],
  popa: ['Pop all general registers (SP/ESP is skipped).', ''],
  popaw: ['Pop DI, SI, BP, (SP skipped), BX, DX, CX, AX.', ''],
  popad: ['Pop EDI, ESI, EBP, (ESP skipped), EBX, EDX, ECX, EAX.', ''],
  pushf: ['Push FLAGS/EFLAGS (by operand size).', ''],
  pushfw: ['Push FLAGS.', ''],
  pushfd: ['Push EFLAGS (VM and RF read as 0).', ''],
  popf: ['Pop FLAGS/EFLAGS; IOPL and IF change only with enough privilege.', 'all'],
  popfw: ['Pop FLAGS.', 'all'],
  popfd: ['Pop EFLAGS.', 'all'],
  lahf: ['Load SF ZF AF PF CF into AH.', ''],
  sahf: ['Store AH into SF ZF AF PF CF.', 'SF ZF AF PF CF'],
  cbw: ['Sign-extend AL into AX.', ''],
  cwde: ['Sign-extend AX into EAX.', ''],
  cwd: ['Sign-extend AX into DX:AX.', ''],
  cdq: ['Sign-extend EAX into EDX:EAX.', ''],
  bswap: ['Reverse the byte order of a 32-bit register.', ''],
  xlat: ['AL = [DS:(E)BX + AL] (table lookup).', ''],
  xlatb: ['AL = [DS:(E)BX + AL] (table lookup).', ''],
  // arithmetic
  add: ['Add the source to the destination.', ARITH],
  adc: ['Add the source and CF to the destination.', ARITH],
  sub: ['Subtract the source from the destination.', ARITH],
  sbb: ['Subtract the source and CF from the destination.', ARITH],
  cmp: ['Compare: subtract the source from the destination, set the flags, discard the result.', ARITH],
  inc: ['Add 1 (CF is kept).', 'OF SF ZF AF PF'],
  dec: ['Subtract 1 (CF is kept).', 'OF SF ZF AF PF'],
  neg: ['Two\'s complement negation; CF = (operand != 0).', ARITH],
  mul: ['Unsigned multiply of the accumulator: AX = AL*src, DX:AX = AX*src, EDX:EAX = EAX*src.', 'OF CF', 'SF ZF AF PF'],
  imul: ['Signed multiply (one, two or three operands).', 'OF CF', 'SF ZF AF PF'],
  div: ['Unsigned divide of (E)DX:(E)AX or AX by the operand: quotient in the accumulator, remainder in (E)DX/AH. #DE on overflow.', '', 'OF SF ZF AF PF CF'],
  idiv: ['Signed divide, like DIV. #DE on overflow.', '', 'OF SF ZF AF PF CF'],
  aaa: ['ASCII adjust AL after addition.', 'AF CF', 'OF SF ZF PF'],
  aas: ['ASCII adjust AL after subtraction.', 'AF CF', 'OF SF ZF PF'],
  aam: ['ASCII adjust AX after multiply (AH = AL / base, AL = AL % base).', 'SF ZF PF', 'OF AF CF'],
  aad: ['ASCII adjust AX before division (AL = AH*base + AL, AH = 0).', 'SF ZF PF', 'OF AF CF'],
  daa: ['Decimal adjust AL after addition.', 'SF ZF AF PF CF', 'OF'],
  das: ['Decimal adjust AL after subtraction.', 'SF ZF AF PF CF', 'OF'],
  // logic, shifts, bits
  and: ['Bitwise AND.', LOGIC, 'AF'],
  or: ['Bitwise OR.', LOGIC, 'AF'],
  xor: ['Bitwise exclusive OR (xor r, r clears a register).', LOGIC, 'AF'],
  not: ['Bitwise NOT (one\'s complement).', ''],
  test: ['Bitwise AND that only sets the flags.', LOGIC, 'AF'],
  shl: ['Shift left; the last bit out goes to CF.', 'SF ZF PF CF; OF for 1-bit shifts', 'AF'],
  sal: ['Shift left (same as SHL).', 'SF ZF PF CF; OF for 1-bit shifts', 'AF'],
  shr: ['Logical shift right; the last bit out goes to CF.', 'SF ZF PF CF; OF for 1-bit shifts', 'AF'],
  sar: ['Arithmetic shift right (sign bit kept).', 'SF ZF PF CF; OF=0 for 1-bit shifts', 'AF'],
  rol: ['Rotate left.', 'CF; OF for 1-bit rotates'],
  ror: ['Rotate right.', 'CF; OF for 1-bit rotates'],
  rcl: ['Rotate left through CF.', 'CF; OF for 1-bit rotates'],
  rcr: ['Rotate right through CF.', 'CF; OF for 1-bit rotates'],
  shld: ['Double-precision shift left, filling from the second operand.', 'SF ZF PF CF', 'OF AF'],
  shrd: ['Double-precision shift right, filling from the second operand.', 'SF ZF PF CF', 'OF AF'],
  bt: ['Copy a bit of the operand to CF.', 'CF', 'OF SF AF PF'],
  bts: ['Copy a bit to CF and set it.', 'CF', 'OF SF AF PF'],
  btr: ['Copy a bit to CF and clear it.', 'CF', 'OF SF AF PF'],
  btc: ['Copy a bit to CF and complement it.', 'CF', 'OF SF AF PF'],
  bsf: ['Index of the lowest set bit; ZF = 1 when the source is 0.', 'ZF', 'OF SF AF PF CF'],
  bsr: ['Index of the highest set bit; ZF = 1 when the source is 0.', 'ZF', 'OF SF AF PF CF'],
  // flags
  clc: ['Clear CF.', 'CF=0'],
  stc: ['Set CF.', 'CF=1'],
  cmc: ['Complement CF.', 'CF'],
  cld: ['Clear DF: string instructions count up.', 'DF=0'],
  std: ['Set DF: string instructions count down.', 'DF=1'],
  cli: ['Clear IF: mask maskable interrupts (needs CPL <= IOPL).', 'IF=0'],
  sti: ['Set IF; interrupts are taken after the next instruction.', 'IF=1'],
  // strings
  movsb: ['Copy a byte from DS:(E)SI to ES:(E)DI, step both by DF.', ''],
  movsw: ['Copy a word from DS:(E)SI to ES:(E)DI.', ''],
  movsd: ['Copy a doubleword from DS:(E)SI to ES:(E)DI.', ''],
  cmpsb: ['Compare bytes at DS:(E)SI and ES:(E)DI.', ARITH],
  cmpsw: ['Compare words at DS:(E)SI and ES:(E)DI.', ARITH],
  cmpsd: ['Compare doublewords at DS:(E)SI and ES:(E)DI.', ARITH],
  scasb: ['Compare AL with the byte at ES:(E)DI.', ARITH],
  scasw: ['Compare AX with the word at ES:(E)DI.', ARITH],
  scasd: ['Compare EAX with the doubleword at ES:(E)DI.', ARITH],
  lodsb: ['Load AL from DS:(E)SI.', ''],
  lodsw: ['Load AX from DS:(E)SI.', ''],
  lodsd: ['Load EAX from DS:(E)SI.', ''],
  stosb: ['Store AL at ES:(E)DI.', ''],
  stosw: ['Store AX at ES:(E)DI.', ''],
  stosd: ['Store EAX at ES:(E)DI.', ''],
  // control transfer
  jmp: ['Jump (short, near, far, or indirect).', '', undefined, 'a far JMP through a task gate: TASK_SWITCH'],
  call: ['Push the return address and jump (near or far).', '', undefined, 'a far CALL through a task gate: TASK_SWITCH'],
  ret: ['Return: pop the return address (and release N bytes of arguments).', ''],
  retn: ['Near return.', ''],
  retf: ['Far return: pop EIP and CS.', ''],
  jcxz: ['Jump if CX = 0.', ''],
  jecxz: ['Jump if ECX = 0.', ''],
  loop: ['Decrement (E)CX (flags kept) and jump if it is not 0.', ''],
  loope: ['Decrement (E)CX and jump if it is not 0 and ZF = 1.', ''],
  loopz: ['Decrement (E)CX and jump if it is not 0 and ZF = 1.', ''],
  loopne: ['Decrement (E)CX and jump if it is not 0 and ZF = 0.', ''],
  loopnz: ['Decrement (E)CX and jump if it is not 0 and ZF = 0.', ''],
  enter: ['Make a stack frame: push (E)BP, copy nesting levels, reserve bytes.', ''],
  leave: ['Release the stack frame: (E)SP = (E)BP, pop (E)BP.', ''],
  int: ['Software interrupt through the IVT/IDT vector.', 'IF=0 TF=0 (in the handler)', undefined, 'EXCEPTION_NMI when the vector is in the exception bitmap'],
  int3: ['Breakpoint trap (#BP, vector 3).', 'IF=0 TF=0 (in the handler)', undefined, 'EXCEPTION_NMI when bit 3 of the exception bitmap is set'],
  int1: ['ICEBP: debug trap (#DB, vector 1).', 'IF=0 TF=0 (in the handler)', undefined, 'EXCEPTION_NMI when bit 1 of the exception bitmap is set'],
  icebp: ['Debug trap (#DB, vector 1), same as INT1.', 'IF=0 TF=0 (in the handler)', undefined, 'EXCEPTION_NMI when bit 1 of the exception bitmap is set'],
  into: ['Overflow trap (#OF, vector 4) if OF = 1.', ''],
  iret: ['Return from an interrupt: pop (E)IP, CS, (E)FLAGS (and SS:ESP across privilege).', 'all', undefined, 'NMI unblocking with virtual NMIs'],
  iretw: ['16-bit interrupt return.', 'all'],
  iretd: ['32-bit interrupt return.', 'all'],
  bound: ['Check an index against bounds in memory; #BR when out of range.', ''],
  // system
  hlt: ['Halt until an interrupt, NMI or reset (CPL 0).', '', undefined, 'HLT with HLT exiting'],
  nop: ['No operation.', ''],
  pause: ['Spin-wait hint.', '', undefined, 'PAUSE_INSTRUCTION with PAUSE exiting or PAUSE-loop exiting'],
  wait: ['Wait for pending x87 exceptions.', ''],
  fwait: ['Wait for pending x87 exceptions.', ''],
  ud2: ['Raise an invalid-opcode exception (#UD) on purpose.', ''],
  cpuid: ['Processor identification: EAX (and ECX) select a leaf; results in EAX, EBX, ECX, EDX.', '', undefined, 'CPUID, always'],
  rdtsc: ['Read the time-stamp counter into EDX:EAX.', '', undefined, 'RDTSC with RDTSC exiting'],
  rdtscp: ['Read the time-stamp counter into EDX:EAX and TSC_AUX into ECX.', '', undefined, 'RDTSCP with RDTSC exiting'],
  rdpmc: ['Read the performance counter selected by ECX into EDX:EAX.', '', undefined, 'RDPMC with RDPMC exiting'],
  rdmsr: ['Read the MSR selected by ECX into EDX:EAX (CPL 0).', '', undefined, 'MSR_READ per the MSR bitmap'],
  wrmsr: ['Write EDX:EAX to the MSR selected by ECX (CPL 0).', '', undefined, 'MSR_WRITE per the MSR bitmap'],
  in: ['Read from an I/O port (immediate or DX) into AL/AX/EAX.', '', undefined, 'IO_INSTRUCTION per the I/O bitmaps or unconditional I/O exiting'],
  out: ['Write AL/AX/EAX to an I/O port (immediate or DX).', '', undefined, 'IO_INSTRUCTION per the I/O bitmaps or unconditional I/O exiting'],
  insb: ['Read a byte from port DX to ES:(E)DI.', '', undefined, 'IO_INSTRUCTION (string)'],
  insw: ['Read a word from port DX to ES:(E)DI.', '', undefined, 'IO_INSTRUCTION (string)'],
  insd: ['Read a doubleword from port DX to ES:(E)DI.', '', undefined, 'IO_INSTRUCTION (string)'],
  outsb: ['Write the byte at DS:(E)SI to port DX.', '', undefined, 'IO_INSTRUCTION (string)'],
  outsw: ['Write the word at DS:(E)SI to port DX.', '', undefined, 'IO_INSTRUCTION (string)'],
  outsd: ['Write the doubleword at DS:(E)SI to port DX.', '', undefined, 'IO_INSTRUCTION (string)'],
  lgdt: ['Load GDTR (limit and base) from memory (CPL 0).', '', undefined, 'GDTR_IDTR with descriptor-table exiting'],
  lidt: ['Load IDTR (limit and base) from memory (CPL 0).', '', undefined, 'GDTR_IDTR with descriptor-table exiting'],
  sgdt: ['Store GDTR to memory.', '', undefined, 'GDTR_IDTR with descriptor-table exiting'],
  sidt: ['Store IDTR to memory.', '', undefined, 'GDTR_IDTR with descriptor-table exiting'],
  lldt: ['Load LDTR from a selector (CPL 0).', '', undefined, 'LDTR_TR with descriptor-table exiting'],
  sldt: ['Store the LDTR selector.', '', undefined, 'LDTR_TR with descriptor-table exiting'],
  ltr: ['Load the task register from a selector (CPL 0); marks the TSS busy.', '', undefined, 'LDTR_TR with descriptor-table exiting'],
  str: ['Store the task register selector.', '', undefined, 'LDTR_TR with descriptor-table exiting'],
  lmsw: ['Load the machine status word (CR0 bits 0-3; cannot clear PE).', '', undefined, 'CR_ACCESS for host-owned CR0 bits'],
  smsw: ['Store the machine status word (low bits of CR0).', ''],
  clts: ['Clear CR0.TS (CPL 0).', '', undefined, 'CR_ACCESS when CR0.TS is host-owned and its read shadow is set'],
  invlpg: ['Invalidate the TLB entries for one linear address (CPL 0).', '', undefined, 'INVLPG with INVLPG exiting'],
  invd: ['Invalidate caches without writing back (CPL 0).', '', undefined, 'INVD, always'],
  wbinvd: ['Write back and invalidate caches (CPL 0).', '', undefined, 'WBINVD with WBINVD exiting'],
  lar: ['Load the access rights of a segment selector; ZF = 1 when valid.', 'ZF'],
  lsl: ['Load the segment limit of a selector; ZF = 1 when valid.', 'ZF'],
  verr: ['ZF = 1 when the segment is readable at the current privilege.', 'ZF'],
  verw: ['ZF = 1 when the segment is writable at the current privilege.', 'ZF'],
  arpl: ['Raise the RPL of a selector to the source\'s; ZF = 1 when changed.', 'ZF'],
  monitor: ['Arm address monitoring on the linear address in (E)AX.', '', undefined, 'MONITOR_INSTRUCTION with MONITOR exiting'],
  mwait: ['Wait for a write to the monitored address, or an interrupt.', '', undefined, 'MWAIT_INSTRUCTION with MWAIT exiting'],
  xsetbv: ['Write EDX:EAX to the extended control register selected by ECX (XCR0).', '', undefined, 'XSETBV, always'],
  // VMX
  vmxon: ['Enter VMX root operation with the VMXON region at the given physical address (CPL 0, CR4.VMXE = 1).', VMX_FLAGS, undefined, 'VMON, always (from a guest)'],
  vmxoff: ['Leave VMX operation.', VMX_FLAGS, undefined, 'VMOFF, always (from a guest)'],
  vmclear: ['Flush a VMCS to memory and make it clear (not launched, not current).', VMX_FLAGS, undefined, 'VMCLEAR, always (from a guest)'],
  vmptrld: ['Make the VMCS at the given physical address current and active.', VMX_FLAGS, undefined, 'VMPTRLD, always (from a guest)'],
  vmptrst: ['Store the current-VMCS pointer to memory.', VMX_FLAGS, undefined, 'VMPTRST, always (from a guest)'],
  vmread: ['Read the VMCS field whose encoding is in the second operand.', VMX_FLAGS, undefined, 'VMREAD unless satisfied by a shadow VMCS'],
  vmwrite: ['Write a VMCS field: first operand holds the encoding, second the value.', VMX_FLAGS, undefined, 'VMWRITE unless satisfied by a shadow VMCS'],
  vmlaunch: ['VM entry into a clear (not yet launched) current VMCS.', VMX_FLAGS, undefined, 'VMLAUNCH, always (from a guest)'],
  vmresume: ['VM entry into a launched current VMCS.', VMX_FLAGS, undefined, 'VMRESUME, always (from a guest)'],
  vmcall: ['Call the VMM (hypercall): in non-root operation a VM exit.', VMX_FLAGS, undefined, 'VMCALL, always'],
  vmfunc: ['Invoke the VM function in EAX (0: EPTP switching) without a VM exit.', '', undefined, 'VMFUNC when the function fails or is not enabled'],
  invept: ['Invalidate EPT-derived translations (type in the register, descriptor in memory).', VMX_FLAGS, undefined, 'INVEPT, always (from a guest)'],
  invvpid: ['Invalidate translations tagged with a VPID (type in the register, descriptor in memory).', VMX_FLAGS, undefined, 'INVVPID, always (from a guest)'],
};

/** The conditions of Jcc / SETcc / CMOVcc and the flags each reads. */
const CONDITIONS: Record<string, string> = {
  o: 'overflow (OF = 1)', no: 'not overflow (OF = 0)',
  b: 'below, unsigned (CF = 1)', c: 'carry (CF = 1)', nae: 'not above or equal, unsigned (CF = 1)',
  nb: 'not below, unsigned (CF = 0)', nc: 'not carry (CF = 0)', ae: 'above or equal, unsigned (CF = 0)',
  e: 'equal (ZF = 1)', z: 'zero (ZF = 1)', ne: 'not equal (ZF = 0)', nz: 'not zero (ZF = 0)',
  be: 'below or equal, unsigned (CF = 1 or ZF = 1)', na: 'not above, unsigned (CF = 1 or ZF = 1)',
  nbe: 'not below or equal, unsigned (CF = 0 and ZF = 0)', a: 'above, unsigned (CF = 0 and ZF = 0)',
  s: 'sign (SF = 1)', ns: 'not sign (SF = 0)', p: 'parity even (PF = 1)', pe: 'parity even (PF = 1)',
  np: 'parity odd (PF = 0)', po: 'parity odd (PF = 0)',
  l: 'less, signed (SF != OF)', nge: 'not greater or equal, signed (SF != OF)',
  nl: 'not less, signed (SF = OF)', ge: 'greater or equal, signed (SF = OF)',
  le: 'less or equal, signed (ZF = 1 or SF != OF)', ng: 'not greater, signed (ZF = 1 or SF != OF)',
  nle: 'not less or equal, signed (ZF = 0 and SF = OF)', g: 'greater, signed (ZF = 0 and SF = OF)',
};

function build(): Map<string, InstructionDoc> {
  const docs = new Map<string, InstructionDoc>();
  for (const [m, [summary, flags, undefinedFlags, vmExit]] of Object.entries(ROWS)) {
    docs.set(m, { summary, flags, ...(undefinedFlags ? { undefinedFlags } : {}), ...(vmExit ? { vmExit } : {}) });
  }
  for (const [cc, text] of Object.entries(CONDITIONS)) {
    docs.set(`j${cc}`, { summary: `Jump if ${text}.`, flags: '' });
    docs.set(`set${cc}`, { summary: `Set the byte operand to 1 if ${text}, else 0.`, flags: '' });
    docs.set(`cmov${cc}`, { summary: `Move if ${text}.`, flags: '' });
  }
  return docs;
}

export const INSTRUCTION_DOCS: ReadonlyMap<string, InstructionDoc> = build();

export interface RegisterDoc {
  summary: string;
}

const GP: Record<string, string> = {
  a: 'accumulator: I/O, MUL/DIV, string compares, CPUID leaf',
  c: 'counter: LOOP, REP, shift counts, MSR index for RDMSR/WRMSR',
  d: 'data: I/O port for IN/OUT with DX, high half of MUL/DIV',
  b: 'base: addressing, XLAT table',
};
const INDEX: Record<string, string> = {
  sp: 'stack pointer',
  bp: 'frame (base) pointer; addresses default to SS',
  si: 'source index for string instructions (DS:SI)',
  di: 'destination index for string instructions (ES:DI)',
};
const SEGMENTS: Record<string, string> = {
  cs: 'code segment', ds: 'data segment (default for most memory operands)', es: 'extra segment (string destination)',
  ss: 'stack segment', fs: 'extra segment FS', gs: 'extra segment GS',
};
const CONTROL: Record<string, string> = {
  cr0: 'CR0: PE (protection), MP, EM, TS, ET, NE, WP, AM, NW, CD, PG (paging). Host-owned bits are shadowed by CR0_READ_SHADOW.',
  cr1: 'CR1: reserved (#UD).',
  cr2: 'CR2: the linear address of the last page fault.',
  cr3: 'CR3: physical base of the page directory (PDBR), PWT, PCD. MOV to CR3 exits with CR3-load exiting.',
  cr4: 'CR4: VME, PVI, TSD, DE, PSE, PAE, MCE, PGE, PCE, OSFXSR, VMXE (bit 13, required for VMXON) ...',
  cr5: 'CR5: reserved (#UD).', cr6: 'CR6: reserved (#UD).', cr7: 'CR7: reserved (#UD).',
};
const DEBUG: Record<string, string> = {
  dr0: 'DR0: breakpoint linear address 0.', dr1: 'DR1: breakpoint linear address 1.',
  dr2: 'DR2: breakpoint linear address 2.', dr3: 'DR3: breakpoint linear address 3.',
  dr4: 'DR4: alias of DR6 when CR4.DE = 0.', dr5: 'DR5: alias of DR7 when CR4.DE = 0.',
  dr6: 'DR6: debug status (which breakpoint hit, BS single step, BD, BT).',
  dr7: 'DR7: debug control (L0-3/G0-3 enables, R/W and LEN per breakpoint, GD).',
};

function buildRegisters(): Map<string, RegisterDoc> {
  const regs = new Map<string, RegisterDoc>();
  for (const [r, text] of Object.entries(GP)) {
    regs.set(`e${r}x`, { summary: `32-bit register E${r.toUpperCase()}X, the ${text}.` });
    regs.set(`${r}x`, { summary: `16-bit register ${r.toUpperCase()}X (low half of E${r.toUpperCase()}X), the ${text}.` });
    regs.set(`${r}l`, { summary: `8-bit register ${r.toUpperCase()}L, bits 7:0 of ${r.toUpperCase()}X.` });
    regs.set(`${r}h`, { summary: `8-bit register ${r.toUpperCase()}H, bits 15:8 of ${r.toUpperCase()}X.` });
  }
  for (const [r, text] of Object.entries(INDEX)) {
    regs.set(`e${r}`, { summary: `32-bit register E${r.toUpperCase()}, the ${text}.` });
    regs.set(r, { summary: `16-bit register ${r.toUpperCase()} (low half of E${r.toUpperCase()}), the ${text}.` });
  }
  for (const [r, text] of Object.entries(SEGMENTS)) {
    regs.set(r, { summary: `Segment register ${r.toUpperCase()}, the ${text}. In real mode the base is selector × 16.` });
  }
  for (const [r, text] of Object.entries({ ...CONTROL, ...DEBUG })) regs.set(r, { summary: text });
  return regs;
}

export const REGISTER_DOCS: ReadonlyMap<string, RegisterDoc> = buildRegisters();

/** Assembler directives and preprocessor words (the latter with their `%`). */
export const DIRECTIVE_DOCS: ReadonlyMap<string, string> = new Map(Object.entries({
  bits: 'Directive: assemble the following code for 16- or 32-bit mode (`bits 16`, `bits 32`).',
  use16: 'Directive: same as `bits 16`.',
  use32: 'Directive: same as `bits 32`.',
  org: 'Directive: the address the output is loaded at (labels count from it); 0x7C00 for a boot sector.',
  section: 'Directive: continue in the named section (`.text`, `.data`, `.bss`; `align=N`, `nobits`, `progbits`).',
  segment: 'Directive: same as `section`.',
  align: 'Directive: pad with NOPs (code) or the given byte up to a multiple of N.',
  alignb: 'Directive: reserve space up to a multiple of N (in a nobits section).',
  times: 'Prefix: repeat the rest of the line N times (`times 510-($-$$) db 0`).',
  db: 'Data: define bytes (numbers, characters, strings).',
  dw: 'Data: define 16-bit words.',
  dd: 'Data: define 32-bit doublewords.',
  dq: 'Data: define 64-bit quadwords.',
  dt: 'Data: define 80-bit values (integers only).',
  do: 'Data: define 128-bit values (integers only).',
  resb: 'Reserve N bytes (uninitialised; zeros in a progbits section).',
  resw: 'Reserve N words.',
  resd: 'Reserve N doublewords.',
  resq: 'Reserve N quadwords.',
  rest: 'Reserve N ten-byte values.',
  equ: 'Define the label on this line as a constant: `NAME equ value`.',
  global: 'Directive: export a symbol (accepted and ignored in flat binaries).',
  extern: 'Directive: import a symbol (accepted and ignored in flat binaries).',
  cpu: 'Directive: restrict the instruction set (accepted and ignored).',
  default: 'Directive: default addressing options (accepted and ignored).',
  '%define': 'Preprocessor: define a single-line macro, optionally with parameters.',
  '%xdefine': 'Preprocessor: define a single-line macro, expanding the body now.',
  '%idefine': 'Preprocessor: define a case-insensitive single-line macro.',
  '%undef': 'Preprocessor: remove a single-line macro.',
  '%assign': 'Preprocessor: define a numeric single-line macro from an expression.',
  '%include': 'Preprocessor: insert another file here (path relative to this file).',
  '%macro': 'Preprocessor: start a multi-line macro: `%macro name nparams` … `%endmacro`; `%1`… are the arguments, `%%x` local labels.',
  '%imacro': 'Preprocessor: a case-insensitive multi-line macro.',
  '%endmacro': 'Preprocessor: end of a multi-line macro.',
  '%rep': 'Preprocessor: repeat the lines up to `%endrep` N times.',
  '%endrep': 'Preprocessor: end of a `%rep` block.',
  '%if': 'Preprocessor: assemble the following lines if the expression is non-zero.',
  '%ifdef': 'Preprocessor: assemble the following lines if the single-line macro is defined.',
  '%ifndef': 'Preprocessor: assemble the following lines if the single-line macro is not defined.',
  '%ifmacro': 'Preprocessor: assemble the following lines if the multi-line macro exists.',
  '%elif': 'Preprocessor: else-if of a `%if` block.',
  '%else': 'Preprocessor: else branch of a `%if` block.',
  '%endif': 'Preprocessor: end of a `%if` block.',
  '%error': 'Preprocessor: stop with an error message.',
  '%warning': 'Preprocessor: emit a warning message.',
}));
