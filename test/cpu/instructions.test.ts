// test/fixtures/cpu-conformance/instructions.asm: instruction semantics in
// flat 32-bit ring 0. Each expected value is worked out in the comment next
// to it from the SDM description of the instruction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, readLog, result, runFlat, text, RESULTS, type GuestRun } from './guest-programs';

let cached: GuestRun | undefined;
const run = (): GuestRun => (cached ??= runFlat('instructions'));

const t = test;

/** [first slot, name, expected values of consecutive slots] */
const slots: [number, string, number[]][] = [
  [0, 'mul ebx: 0x12345678 * 0x9ABCDEF0 -> EDX:EAX', [0x242d2080, 0x0b00ea4e]],
  [2, 'mul bx: 0xFFFF * 0xFFFF -> DX:AX, upper halves kept', [0xaaaa0001, 0x5555fffe]],
  [4, 'mul bl: 0x80 * 2 -> AX', [0x11110100]],
  [5, 'imul ebx: -7 * 0x10000000 -> EDX:EAX sign-extended', [0x90000000, 0xffffffff]],
  [7, 'imul bl: -128 * 127 -> AX = 0xC080', [0x3333c080]],
  [8, 'imul eax, ebx, -2: 0x40000000 * -2', [0x80000000]],
  [9, 'imul ax, bx: 0x100 * 0x100 truncates to 0 and sets CF', [0x77770000, 1]],
  [11, 'div ebx: 0x5_12345678 / 0x10000 -> quotient, remainder', [0x51234, 0x5678]],
  [13, 'idiv ebx: -100 / 7 -> -14 rem -2', [0xfffffff2, 0xfffffffe]],
  [15, 'idiv bl: AX=-100 / 7 -> AL=-14, AH=-2, upper EAX kept', [0x1234fef2]],
  [16, 'div cx: DX:AX = 0x10000 / 2', [0x8000, 0]],
  [18, 'shld eax, ebx, 8', [0x3456789a]],
  [19, 'shrd eax, ebx, 12', [0xef012345]],
  [20, 'shld [mem], ebx, cl=4', [0x23456789]],
  [21, 'shrd ax, bx, 4', [0x0000d123]],
  [22, 'bsf eax, [mem] with 0x00080000', [19]],
  [23, 'bsr eax, ebx with 0x00080001', [19]],
  [24, 'bsr ax, bx with 1 keeps the upper half of EAX', [0xffff0000]],
  [25, 'bsf with a zero source sets ZF and leaves the destination', [1, 0x5a5a5a5a]],
  [27, 'bts [base], 100: bit 4 of dword base+12, CF was 0', [0, 0x10]],
  [29, 'bt [base], -1: bit 7 of the byte below base', [1]],
  [30, 'btc [base], -33: bit 31 of dword base-8 toggled, CF was 0', [0x80000000, 0]],
  [32, 'btr word [base], -1: bit 15 of word base-2 cleared, CF was 1', [1, 0]],
  [34, 'bt dword [base], 35: immediate offset taken modulo 32', [1]],
  [35, 'bts [base], 0x1000: byte base+0x200', [1]],
  [36, 'bts [base], -0x1000: byte base-0x200', [1]],
  [37, 'xadd [mem], eax: 10 + 5', [15, 10]],
  [39, 'cmpxchg equal: stores the source, ZF=1', [99, 1]],
  [41, 'cmpxchg not equal: loads EAX, ZF=0, memory kept', [99, 0, 99]],
  [44, 'bswap eax', [0x78563412]],
  [45, 'cmovl taken, cmovg not taken', [2, 7]],
  [52, 'enter 16, 0: ESP drops by 20, EBP = frame', [20, 0]],
  [54, 'leave restores ESP', [0]],
  [55, 'enter 8, 3: copies two outer frame pointers', [24, 0x1111, 0x2222, 0, 4]],
  [60, 'leave after enter 8, 3 restores ESP and EBP', [0, 0]],
  [62, 'daa: 0x79 + 0x35 -> 0x14, CF=1', [0x0114]],
  [63, 'das: 0x35 - 0x47 -> 0x88, CF=1', [0x0188]],
  [64, 'aaa: AX=0x000E (AF=0) -> AX+0x106, AL&0xF -> 0x0104', [0x0104]],
  [65, 'aas: AX=0x02FE (AF=1) -> AX-6, AH-1, AL&0xF -> 0x0108', [0x0108]],
  [66, 'aam: 99 -> AH=9, AL=9', [0x0909]],
  [67, 'aad: AH=9, AL=7 -> 97', [0x0061]],
  [68, 'aam 16: 0xAB -> 0x0A0B', [0x0a0b]],
  [69, 'xlatb: [ebx + al=3]', [0xffffff28]],
  [70, 'les edi, m16:32', [0x12345678, 0x10]],
  [72, 'lds esi, m16:32 with a DPL-3 selector', [0x9abcdef0, 0x23]],
  [74, 'lss esp, m16:32', [0x7f000]],
  [77, 'lsl: byte-granular limit, ZF=1', [0xabcde, 1]],
  [79, 'lsl: page-granular limit 0xFFFFF -> 0xFFFFFFFF', [0xffffffff]],
  [80, 'lar: null selector and selector past the GDT limit give ZF=0', [0, 0]],
  [82, 'verr data=1, verw read-only=0, verr execute-only=0, verw data=1, verr readable code=1', [1, 0, 0, 1, 1]],
  [87, 'arpl raises RPL 0 -> 3, ZF=1', [0x1b, 1]],
  [89, 'arpl with RPL already higher: unchanged, ZF=0', [0x23, 0]],
  [91, 'a16 loop counts in CX only: 3 iterations, ECX upper half kept', [3, 0x00010000]],
  [93, 'loopne stops on ZF=1 after 4 iterations', [4, 6]],
  [95, 'jecxz taken with ECX=0, a16 jcxz taken with CX=0, jecxz not taken with ECX=1', [3]],
  [105, 'wrmsr/rdmsr IA32_SYSENTER_CS round trip', [0x1234, 0]],
  [107, 'a16 rep movsb: SI wraps from 0xFFFF to 0, upper halves kept', [0x2211, 0x00010001, 0x00025002, 0x00070000]],
  [111, 'std; rep stosd runs downwards', [0xfffffffc]],
  [113, 'repe cmpsb stops after the first difference', [1, 3]],
  [115, 'repne scasb stops after the match', [3, 1]],
  [117, 'lodsw', [0x6261]],
  [118, 'rep insw from a port nothing decodes reads all ones', [0xffffffff, 4]],
  [120, 'repe cmpsb with ECX=0: flags from the cmp 0, 1 before it (CF PF AF SF), ESI unchanged', [0x95, 0]],
  [122, 'rep ret returns', [0x1234]],
  [123, 'push esp pushes the value before the push', [0]],
  [124, 'pop [esp] computes the address after incrementing ESP', [0x2222]],
  [125, 'popad skips the ESP slot', [0, 0x44444444]],
  [127, 'end marker', [0x600df00d]],
];

for (const [first, name, values] of slots) {
  t(name, () => {
    const got = values.map((_, i) => hex(result(run().m, first + i)));
    assert.deepEqual(got, values.map(hex));
  });
}

t('lar: access rights of the descriptor (bits 19:16 undefined per the SDM), ZF=1', () => {
  assert.equal(hex(result(run().m, 75) & 0x00f0ff00), hex(0x0040f200));
  assert.equal(result(run().m, 76), 1);
});

t('setcc over all 16 conditions after cmp 1, 2 (CF SF PF set, ZF OF clear)', () => {
  const bytes = Array.from(run().m.memory.readBytes(RESULTS + 48 * 4, 16));
  //            o  no b  ae e  ne be a  s  ns p  np l  ge le g
  assert.deepEqual(bytes, [0, 1, 1, 0, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]);
});

t('cpuid leaf 0: a maximum leaf and a 12-character vendor string', () => {
  const m = run().m;
  assert.ok(result(m, 96) >= 1, `max leaf ${result(m, 96)}`);
  const vendor = [97, 98, 99].flatMap((s) => [0, 8, 16, 24].map((b) => (result(m, s) >>> b) & 0xff));
  assert.match(text(vendor), /^[\x20-\x7e]{12}$/);
});

t('cpuid leaf 1 reports TSC and PSE', () => {
  const edx = result(run().m, 100);
  assert.equal(edx & 0x10, 0x10, 'TSC');
  assert.equal(edx & 0x08, 0x08, 'PSE');
});

t('rdtsc increases', () => {
  const m = run().m;
  const t1 = (BigInt(result(m, 102)) << 32n) | BigInt(result(m, 101));
  const t2 = (BigInt(result(m, 104)) << 32n) | BigInt(result(m, 103));
  assert.ok(t2 > t1, `${t1} then ${t2}`);
});

t('rdmsr and wrmsr of an unknown MSR raise #GP(0) at the instruction', () => {
  const log = readLog(run().m);
  assert.deepEqual(log.map((e) => [e.id, e.vector, e.error]), [[1, 13, 0], [2, 13, 0]]);
  for (const e of log) assert.equal(hex(e.eip), hex(e.expectedEip));
});

t('rep outsb writes the string to port 0xE9', () => {
  assert.equal(text(run().m.console.e9), 'hi!');
});

t('the program ends on hlt', () => {
  assert.equal(run().stop.reason, 'hlt', run().stop.message);
});
