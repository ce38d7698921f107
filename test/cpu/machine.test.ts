// Smoke tests of the Machine API: the three start states, console capture,
// run(n) exactness, stepping, breakpoints, snapshot/restore, triple fault,
// self-modifying code, interception hooks and external interrupts. Guests
// are the .asm/.bin pairs under test/fixtures/cpu/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Machine, type MachineSnapshot } from '../../src/x86/machine';

const bin = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../fixtures/cpu/${name}.bin`, import.meta.url)));
const text = (bytes: number[]): string => String.fromCharCode(...bytes);
const FLAT = 0x100000;

// flat-loop.bin layout (see flat-loop.asm).
const LOOP1 = FLAT + 0x0c;
const flatData = (m: Machine): number[] => [0, 4, 8, 12, 16].map((o) => m.memory.read32(FLAT + 0x44 + o) >>> 0);

function flatMachine(): Machine {
  const m = new Machine({ memorySize: 16 << 20 });
  m.loadFlat32(bin('flat-loop'), FLAT);
  return m;
}

test('boot sector: int 10h returns through the stub, COM1 output, protected-mode switch, hlt', () => {
  const m = new Machine();
  m.loadBootSector(bin('boot-com1'));
  const s0 = m.state();
  assert.equal(s0.mode, 'real');
  assert.equal(s0.eip, 0x7c00);
  assert.equal(s0.edx & 0xff, 0x80, 'DL = boot drive');
  const stop = m.run(1_000_000);
  assert.equal(stop.reason, 'hlt', stop.message);
  assert.equal(text(m.console.com1), 'Hi!\r\n');
  assert.deepEqual(m.console.post, [0x42]);
  const s = m.state();
  assert.equal(s.mode, 'protected');
  assert.equal(s.cs, 0x08);
  assert.equal(s.eax, 500500 & 0xffff, 'sum of 1..1000 (16-bit) computed in real mode');
  assert.equal(m.instructionCount, stop.instructions);
});

test('flat32: start state, loop result, rep outsb to port 0xE9', () => {
  const m = flatMachine();
  const s0 = m.state();
  assert.equal(s0.mode, 'protected');
  assert.equal(s0.cpl, 0);
  assert.equal(s0.eip, FLAT);
  assert.equal(s0.esp, 0x80000);
  assert.equal(s0.cr0 & 0x80000001, 1, 'PE on, paging off');
  const stop = m.run(10_000_000);
  assert.equal(stop.reason, 'hlt', stop.message);
  assert.equal(text(m.console.e9), 'done\n');
  const [, count] = flatData(m);
  assert.equal(count, 5000, 'bump called once per iteration');
  assert.equal(m.state().ecx, 0);
});

test('ROM: execution starts at F000:FFF0 with CS base FFFF0000', () => {
  const m = new Machine();
  m.loadRom(bin('rom'));
  const s0 = m.state();
  assert.equal(s0.cs, 0xf000);
  assert.equal(s0.eip, 0xfff0);
  assert.equal(m.cpu.seg[1].base >>> 0, 0xffff0000);
  assert.equal(m.memory.read8(0xffff0), 0xea, 'image mapped below 1 MiB');
  assert.equal(m.memory.read8(0xfffffff0), 0xea, 'image mapped at the top of 4 GiB');
  const stop = m.run(1000);
  assert.equal(stop.reason, 'hlt', stop.message);
  assert.deepEqual(m.console.post, [1, 2, 3]);
  assert.equal(m.state().eax & 0xffff, 0x1234);
  assert.equal(m.cpu.seg[1].base >>> 0, 0xf0000, 'the far jump reloaded CS in real mode');
});

test('run(n) executes exactly n instructions; step() exactly one', () => {
  const m = flatMachine();
  for (const n of [1, 2, 3, 7, 50, 1000, 12345]) {
    const before = m.instructionCount;
    const stop = m.run(n);
    assert.equal(stop.reason, 'limit');
    assert.equal(stop.instructions, n);
    assert.equal(m.instructionCount - before, n);
  }
  const eip = m.state().eip;
  const st = m.step();
  assert.equal(st.instructions, 1);
  assert.notEqual(m.state().eip, eip);
});

test('stepping one instruction at a time gives the same end state as running', () => {
  const a = flatMachine();
  const b = flatMachine();
  a.run(3000);
  for (let i = 0; i < 3000; i++) b.step();
  assert.deepEqual(b.state(), a.state());
  assert.deepEqual(flatData(b), flatData(a));
});

test('breakpoints stop before the instruction; continuing runs one loop iteration', () => {
  const m = flatMachine();
  m.addBreakpoint(LOOP1);
  let stop = m.run(1_000_000);
  assert.equal(stop.reason, 'breakpoint');
  assert.equal(stop.eip, LOOP1);
  assert.equal(stop.instructions, 3);
  stop = m.run(1_000_000);
  assert.equal(stop.reason, 'breakpoint');
  assert.equal(stop.eip, LOOP1);
  assert.equal(stop.instructions, 10, 'one iteration: 7 loop instructions + bump (3)');
  m.removeBreakpoint(LOOP1);
  stop = m.run(1_000_000);
  assert.equal(stop.reason, 'hlt');
  m.addBreakpoint(0x12345678);
  m.clearBreakpoints();
});

test('a breakpoint in the middle of a hot (translated) loop is still hit', () => {
  const m = flatMachine();
  m.run(20_000);
  m.addBreakpoint(LOOP1 + 2); // mov [ebx], eax
  const stop = m.run(1_000_000);
  assert.equal(stop.reason, 'breakpoint');
  assert.equal(stop.eip, LOOP1 + 2);
});

test('snapshot/restore mid-run: the rest of the run is identical, also after a JSON round trip', () => {
  const a = flatMachine();
  a.run(7777);
  const snap = JSON.parse(JSON.stringify(a.snapshot())) as MachineSnapshot;
  const endA = a.run(10_000_000);
  const b = new Machine({ memorySize: 16 << 20 });
  b.restore(snap);
  assert.equal(b.instructionCount, 7777);
  const endB = b.run(10_000_000);
  assert.deepEqual(endB, endA);
  assert.deepEqual(b.state(), a.state());
  assert.deepEqual(flatData(b), flatData(a));
  assert.deepEqual(b.console, a.console);
  // rdtsc follows the instruction count, so it is reproduced too.
  assert.equal(flatData(b)[3], flatData(a)[3]);
});

test('restoring into the same machine rewinds it', () => {
  const m = flatMachine();
  m.run(500);
  const snap = m.snapshot();
  const s500 = m.state();
  m.run(2000);
  m.restore(snap);
  assert.deepEqual(m.state(), s500);
});

test('translated blocks and the closure interpreter agree', () => {
  const a = flatMachine();
  const b = flatMachine();
  b.engine.jitEnabled = false;
  const sa = a.run(10_000_000);
  const sb = b.run(10_000_000);
  assert.deepEqual(sb, sa);
  assert.deepEqual(b.state(), a.state());
  assert.deepEqual(flatData(b), flatData(a));
});

test('triple fault stops the machine and names the exceptions', () => {
  const m = new Machine({ memorySize: 16 << 20 });
  m.loadFlat32(bin('triple'), FLAT);
  const stop = m.run(1000);
  assert.equal(stop.reason, 'triple-fault');
  assert.match(stop.message, /#UD/);
  assert.match(stop.message, /#DF/);
  assert.equal(stop.instructions, 1, 'mov eax, 1 retired, ud2 did not');
});

test('self-modifying code: patched instructions run in their new form', () => {
  const m = new Machine({ memorySize: 16 << 20 });
  m.loadFlat32(bin('smc'), FLAT);
  const stop = m.run(1000);
  assert.equal(stop.reason, 'hlt', stop.message);
  assert.equal(m.state().ebx, 0x21, '1 + 0x10 + 0x10');
  assert.equal(m.state().eax & 0xff, 0x77, 'the next instruction in the same block was patched');
});

test('interception: a cpuid hook replaces the native behaviour; exceptions are reported before delivery', () => {
  const m = new Machine({ memorySize: 16 << 20 });
  // cpuid; int3; hlt   (IDT limit 0: the int3 is taken by the hook)
  m.loadFlat32(new Uint8Array([0x0f, 0xa2, 0xcc, 0xf4]), FLAT);
  const seen: string[] = [];
  m.cpu.intercept = {
    cpuid: (cpu, ins, len) => {
      seen.push(`${ins.mnemonic}/${len}@${cpu.eip.toString(16)}`);
      cpu.eax = 0x1234;
      cpu.eip = cpu.eip + len;
      return true;
    },
    exception: (cpu, vector, code, kind) => {
      seen.push(`exc ${vector} ${code} ${kind}@${cpu.eip.toString(16)}`);
      return true; // swallow: continue after the int3
    },
  };
  const stop = m.run(100);
  assert.equal(stop.reason, 'hlt', stop.message);
  assert.equal(m.state().eax, 0x1234);
  assert.deepEqual(seen, ['cpuid/2@100000', 'exc 3 -1 software-exception@100003']);
});

test('external interrupts are delivered through the IVT when IF=1, and wake HLT', () => {
  const m = new Machine({ memorySize: 16 << 20 });
  // 7C00: sti; hlt; mov al, [0x600]; cli; hlt     handler at 0000:0700: mov byte [0x600], 0x5a; iret
  const boot = new Uint8Array(512);
  boot.set([0xfb, 0xf4, 0xa0, 0x00, 0x06, 0xfa, 0xf4], 0);
  m.loadBootSector(boot);
  m.memory.load(0x700, new Uint8Array([0xc6, 0x06, 0x00, 0x06, 0x5a, 0xcf]));
  m.memory.write16(0x20 * 4, 0x700);
  m.memory.write16(0x20 * 4 + 2, 0);
  let stop = m.run(100);
  assert.equal(stop.reason, 'hlt');
  assert.equal(stop.message, 'hlt with no interrupt pending');
  m.cpu.requestInterrupt(0x20);
  stop = m.run(100);
  assert.equal(stop.reason, 'hlt', stop.message);
  assert.equal(stop.message, 'hlt with interrupts disabled');
  assert.equal(m.state().eax & 0xff, 0x5a);
});

test('unclaimed ports read all ones; port 0xE9 reads 0xE9; COM1 LSR reports an empty transmitter', () => {
  assert.equal(new Machine().io.in(0x1234, 1), 0xff);
  assert.equal(new Machine().io.in(0x1234, 2), 0xffff);
  assert.equal(new Machine().io.in(0xe9, 1), 0xe9);
  assert.equal(new Machine().io.in(0x3fd, 1) & 0x60, 0x60);
});

test('sparse memory: untouched RAM reads 0, beyond RAM reads 0xFF and ignores writes', () => {
  const m = new Machine({ memorySize: 1 << 20 });
  assert.equal(m.memory.read32(0x80000), 0);
  assert.equal(m.memory.read8(0x200000), 0xff);
  m.memory.write8(0x200000, 1);
  assert.equal(m.memory.read8(0x200000), 0xff);
  m.memory.write32(0x1ffe, 0x11223344);
  assert.equal(m.memory.read32(0x1ffe) >>> 0, 0x11223344, 'access across a page boundary');
});

/** A small deterministic generator (xorshift) for the differential test below. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
}

/** Random loop bodies of register, immediate and [ebx+disp] ALU/move instructions (ECX, EBX, ESP untouched). */
function randomLoop(seed: number): Uint8Array {
  const r = rng(seed);
  const regs = [0, 2, 5, 6, 7];
  const reg = (): number => regs[r() % regs.length];
  const disp = (): number => (r() % 16) * 4 + (r() % 4 === 0 ? 1 : 0);
  const alu = [0x01, 0x09, 0x11, 0x19, 0x21, 0x29, 0x31, 0x39];
  const body: number[] = [];
  for (let i = 0; i < 24; i++) {
    switch (r() % 11) {
      case 0: body.push(alu[r() % 8], 0xc0 | (reg() << 3) | reg()); break;
      case 1: body.push(alu[r() % 8], 0x43 | (reg() << 3), disp()); break;
      case 2: body.push(alu[r() % 8] + 2, 0x43 | (reg() << 3), disp()); break;
      case 3: { const v = r(); body.push(0x81, 0xc0 | ((r() % 8) << 3) | reg(), v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24); break; }
      case 4: body.push((r() % 2 ? 0x40 : 0x48) + reg()); break;
      case 5: body.push(0xc1, 0xc0 | ((r() % 8 === 6 ? 4 : r() % 8) << 3) | reg(), r() % 40); break;
      case 6: body.push(0x8b, 0x43 | (reg() << 3), disp()); break;
      case 7: body.push(0x89, 0x43 | (reg() << 3), disp()); break;
      case 8: body.push(0xff, 0x43 | ((r() % 2) << 3), disp()); break;
      case 9: body.push(0x8d, 0x43 | (reg() << 3), disp()); break;
      default: body.push(0x50 + reg(), 0x58 + reg()); break;
    }
  }
  const data = FLAT + 0x1000;
  const le = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
  const head = [0xb9, ...le(300), 0xbb, ...le(data)];
  const tail = [0x49, 0x0f, 0x85, ...le(-(body.length + 7)), 0x9c, 0x58, 0xf4]; // dec ecx; jnz; pushfd; pop eax; hlt
  return new Uint8Array([...head, ...body, ...tail]);
}

test('differential: random ALU/memory loops give the same results translated and interpreted', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const image = randomLoop(seed * 7919);
    const runIt = (jit: boolean): [unknown, number[]] => {
      const m = new Machine({ memorySize: 16 << 20 });
      m.engine.jitEnabled = jit;
      m.loadFlat32(image, FLAT);
      const stop = m.run(1_000_000);
      const mem = Array.from({ length: 20 }, (_, i) => m.memory.read32(FLAT + 0x1000 + i * 4) >>> 0);
      assert.equal(stop.reason, 'hlt', `seed ${seed}: ${stop.message}`);
      return [{ stop, state: m.state() }, mem];
    };
    const [a, am] = runIt(true);
    const [b, bm] = runIt(false);
    assert.deepEqual(a, b, `seed ${seed}`);
    assert.deepEqual(am, bm, `seed ${seed}`);
  }
});

test('a long rep counts as one instruction and a breakpoint on it stops only once', () => {
  // mov ecx, 10000; mov esi, 0x200000+9999; mov edi, 0x300000+9999; std; rep movsb; cld; hlt
  const le = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
  const code = [0xb9, ...le(10000), 0xbe, ...le(0x200000 + 9999), 0xbf, ...le(0x300000 + 9999), 0xfd, 0xf3, 0xa4, 0xfc, 0xf4];
  const m = new Machine({ memorySize: 16 << 20 });
  m.loadFlat32(new Uint8Array(code), FLAT);
  for (let i = 0; i < 10000; i++) m.memory.write8(0x200000 + i, i & 0xff);
  const rep = FLAT + 16;
  m.addBreakpoint(rep);
  let stop = m.run(1000);
  assert.equal(stop.reason, 'breakpoint');
  assert.equal(stop.eip, rep);
  stop = m.run(1000);
  assert.equal(stop.reason, 'hlt', stop.message);
  assert.equal(stop.instructions, 3, 'rep movsb, cld, hlt');
  assert.equal(m.instructionCount, 7);
  assert.equal(m.memory.read8(0x300000 + 4097), 4097 & 0xff);
  assert.equal(m.state().ecx, 0);
});
