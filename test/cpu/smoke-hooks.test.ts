// Smoke tests of the interception points the VMM layer builds on: VMX
// instructions, control-register writes, port I/O, MSRs, POPF in ring 0,
// external interrupts, and the guest-physical translation step (EPT).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Machine } from '../../src/x86/machine';
import type { IoAccess } from '../../src/x86/cpu/intercept';
import { VmExitSignal } from '../../src/x86/cpu/fault';
import { GRANT_READ } from '../../src/x86/mmu/paging';

const FLAT = 0x100000;

function flat(code: number[]): Machine {
  const m = new Machine({ memorySize: 32 << 20 });
  m.loadFlat32(new Uint8Array(code), FLAT);
  return m;
}

test('vmcall raises #UD natively; a vmx hook can take it and skip it', () => {
  // vmcall; hlt
  const native = flat([0x0f, 0x01, 0xc1, 0xf4]);
  const exc: number[] = [];
  native.cpu.intercept = { exception: (_c, v) => { exc.push(v); return false; } };
  const s1 = native.run(10);
  assert.equal(s1.reason, 'triple-fault', 'no IDT: the #UD cannot be delivered');
  assert.equal(exc[0], 6);

  const hooked = flat([0x0f, 0x01, 0xc1, 0xf4]);
  const ops: string[] = [];
  hooked.cpu.intercept = {
    vmx: (cpu, ins, len, op) => { ops.push(`${op} ${ins.mnemonic} ${len}`); cpu.eip = cpu.eip + len; return true; },
  };
  const s2 = hooked.run(10);
  assert.equal(s2.reason, 'hlt');
  assert.deepEqual(ops, ['vmcall vmcall 3']);
});

test('mov cr0/cr3 writes and port I/O reach their hooks before taking effect', () => {
  // mov eax, 0x1000; mov cr3, eax; mov dx, 0x1234; mov al, 7; out dx, al; in al, 0x60; hlt
  const m = flat([0xb8, 0x00, 0x10, 0x00, 0x00, 0x0f, 0x22, 0xd8, 0x66, 0xba, 0x34, 0x12, 0xb0, 0x07, 0xee, 0xe4, 0x60, 0xf4]);
  const seen: string[] = [];
  m.cpu.intercept = {
    movToCr: (_c, _i, _l, cr, reg, value) => { seen.push(`cr${cr}<-r${reg}=${value.toString(16)}`); return false; },
    io: (cpu, _i, len, a: IoAccess) => {
      seen.push(`${a.input ? 'in' : 'out'} ${a.port.toString(16)}/${a.size}`);
      if (a.input) { cpu.setReg8(0, 0x5a); cpu.eip = cpu.eip + len; return true; }
      return false;
    },
  };
  assert.equal(m.run(100).reason, 'hlt');
  assert.deepEqual(seen, ['cr3<-r0=1000', 'out 1234/1', 'in 60/1']);
  assert.equal(m.state().cr3, 0x1000, 'not handled: the native write happened');
  assert.equal(m.state().eax & 0xff, 0x5a, 'handled: the hook supplied the input');
});

test('rdmsr/wrmsr: known MSRs work, unknown ones #GP, hooks see the index and value', () => {
  // mov ecx, 0x174; mov eax, 0x10; xor edx, edx; wrmsr; rdmsr; mov ecx, 0x12345; rdmsr; hlt
  const code = [0xb9, 0x74, 0x01, 0x00, 0x00, 0xb8, 0x10, 0x00, 0x00, 0x00, 0x31, 0xd2, 0x0f, 0x30, 0x0f, 0x32,
    0xb9, 0x45, 0x23, 0x01, 0x00, 0x0f, 0x32, 0xf4];
  const m = flat(code);
  const seen: string[] = [];
  m.cpu.intercept = {
    wrmsr: (_c, _i, _l, msr, v) => { seen.push(`wr ${msr.toString(16)}=${v.toString(16)}`); return false; },
    rdmsr: (_c, _i, _l, msr) => { seen.push(`rd ${msr.toString(16)}`); return false; },
    exception: (c, v, code) => { seen.push(`exc ${v} ${code}`); c.stopRequest = { reason: 'shutdown', message: 'stop' }; return true; },
  };
  const stop = m.run(100);
  assert.equal(stop.reason, 'shutdown');
  assert.deepEqual(seen, ['wr 174=10', 'rd 174', 'rd 12345', 'exc 13 0']);
  assert.equal(m.msrs.read(0x174), 0x10n);
});

test('the guest-physical translation step sees paging-structure reads and final addresses', () => {
  // Paging on with tables at guest-physical 0x10000 (PD) / 0x11000 (PT) mapping linear 0-4 MiB identity;
  // the translator places guest-physical memory at host 0x1000000 + gpa for the data page 0x200000.
  const m = flat([0xa1, 0x00, 0x00, 0x20, 0x00, 0xf4]); // mov eax, [0x200000]; hlt
  const pd = 0x10000, pt = 0x11000;
  m.memory.write32(pd, pt | 3);
  for (let i = 0; i < 1024; i++) m.memory.write32(pt + i * 4, (i << 12) | 3);
  m.memory.write32(pd + 4, 0x00400083); // 4 MiB page for linear 0x400000 (unused)
  m.memory.write32(0x200000, 0x11111111);
  m.memory.write32(0x1200000, 0x22222222);
  const c = m.cpu;
  c.cr4 = 0x10;
  c.setCr3(pd);
  c.setCr0((c.cr0 | 0x80000000) >>> 0);
  const walks: string[] = [];
  c.mmu.gpaToHpa = (gpa, _access, structure) => {
    if (structure) walks.push(gpa.toString(16));
    return gpa === 0x200000 ? 0x1200000 : gpa;
  };
  c.flushTlb();
  assert.equal(m.run(10).reason, 'hlt');
  assert.equal(m.state().eax, 0x22222222, 'the final address went through the translator');
  assert.ok(walks.includes('10000'), `PDE read translated (${walks.join(',')})`);
  assert.ok(walks.includes('11800'), `PTE read translated (${walks.join(',')})`);
});

test('ring-0 popf changes IF; the popf hook can veto it', () => {
  // push 0x202; popfd; hlt
  const code = [0x68, 0x02, 0x02, 0x00, 0x00, 0x9d, 0xf4];
  const a = flat(code);
  a.run(10);
  assert.equal(a.state().eflags & 0x200, 0x200);
  const b = flat(code);
  b.cpu.intercept = { popf: (cpu, _i, len) => { cpu.esp = cpu.esp + 4; cpu.eip = cpu.eip + len; return true; } };
  b.run(10);
  assert.equal(b.state().eflags & 0x200, 0);
});

test('an interrupt hook sees external interrupts before delivery', () => {
  const m = new Machine({ memorySize: 16 << 20 });
  const boot = new Uint8Array(512);
  boot.set([0xfb, 0x90, 0x90, 0xf4]); // sti; nop; nop; hlt
  m.loadBootSector(boot);
  const got: number[] = [];
  m.cpu.intercept = { interrupt: (_c, v) => { got.push(v); return true; } };
  m.run(1);
  m.cpu.requestInterrupt(0x30);
  m.cpu.requestNmi();
  const stop = m.run(100);
  assert.equal(stop.reason, 'hlt');
  assert.deepEqual(got, [-1, 0x30], 'NMI first, then the interrupt');
});

test('a hook can switch the whole state (a VM exit) and reloadState() re-derives CPL and sizes', () => {
  // Guest at 0x100000 (ring 0 flat): vmcall. "Host" code at 0x7000 runs in real mode: mov ax, 0x77; hlt.
  const m = flat([0x0f, 0x01, 0xc1, 0xf4]);
  m.memory.load(0x7000, new Uint8Array([0xb8, 0x77, 0x00, 0xf4]));
  m.cpu.intercept = {
    vmx: (cpu) => {
      cpu.cr0 = 0x60000010;
      for (let s = 0; s < 6; s++) cpu.seg[s].set(0, 0, 0xffff, s === 1 ? 0x9b : 0x93);
      cpu.flags = 2;
      cpu.eip = 0x7000;
      cpu.reloadState();
      return true;
    },
  };
  const stop = m.run(100);
  assert.equal(stop.reason, 'hlt', stop.message);
  const s = m.state();
  assert.equal(s.mode, 'real');
  assert.equal(s.eax & 0xffff, 0x77, '16-bit code after the switch (mov ax, imm16)');
  assert.equal(s.eip, 0x7004);
});

test('an instruction hook can end the run with a VM exit: EIP stays on the instruction, nothing after it runs', () => {
  // mov eax, 1; cpuid; mov ebx, 2; hlt
  const code = [0xb8, 0x01, 0x00, 0x00, 0x00, 0x0f, 0xa2, 0xbb, 0x02, 0x00, 0x00, 0x00, 0xf4];
  for (const useStep of [false, true]) {
    const m = flat(code);
    const signal = new VmExitSignal({ reason: 10 }, 'CPUID exit');
    m.cpu.intercept = { cpuid: () => { throw signal; } };
    if (useStep) assert.equal(m.step().reason, 'limit');
    const stop = useStep ? m.step() : m.run(10);
    assert.equal(stop.reason, 'vmexit');
    assert.equal(stop.message, 'CPUID exit');
    assert.equal(stop.vmexit, signal);
    assert.deepEqual(stop.vmexit?.payload, { reason: 10 });
    assert.equal(stop.vmexit?.event, null);
    assert.equal(stop.eip, FLAT + 5);
    assert.equal(stop.instructions, useStep ? 0 : 1);
    assert.equal(m.state().eax, 1, 'cpuid did not run');
    assert.equal(m.state().ebx, 0);
  }
});

test('a VM exit on the instruction after sti keeps the interrupt shadow for its restart', () => {
  // sti; cpuid; hlt
  const m = flat([0xfb, 0x0f, 0xa2, 0xf4]);
  let exits = 0;
  m.cpu.intercept = { cpuid: (c, _i, len) => { if (exits++ === 0) throw new VmExitSignal(null); c.eip = c.eip + len; return true; } };
  assert.equal(m.run(10).reason, 'vmexit');
  assert.equal(m.cpu.shadow, true, 'blocking by STI still in effect');
  const got: number[] = [];
  m.cpu.intercept.interrupt = (_c, v) => { got.push(v); return true; };
  m.cpu.requestInterrupt(0x30);
  m.step();
  assert.deepEqual(got, [], 'held off until cpuid completes');
  assert.equal(m.state().eip, FLAT + 3);
  m.step();
  assert.deepEqual(got, [0x30]);
});

test('the translator sees full addresses and the linear address, and the TLB keeps only what it granted', () => {
  // mov eax, [0x200010]; mov [0x200014], eax; mov [0x200018], eax; hlt (paging off)
  const m = flat([0xa1, 0x10, 0x00, 0x20, 0x00, 0xa3, 0x14, 0x00, 0x20, 0x00, 0xa3, 0x18, 0x00, 0x20, 0x00, 0xf4]);
  const seen: string[] = [];
  m.cpu.mmu.gpaToHpa = (gpa, access, structure, linear) => {
    if (gpa >>> 12 === 0x200) seen.push(`${gpa.toString(16)} ${access} ${structure} ${linear.toString(16)}`);
    if (access === 0 && gpa >>> 12 === 0x200) m.cpu.mmu.gpaGrant = GRANT_READ;
    return gpa;
  };
  m.cpu.flushTlb();
  assert.equal(m.run(10).reason, 'hlt');
  assert.deepEqual(seen, ['200010 0 false 200010', '200014 1 false 200014'], 'the first write asks again, the second hits the TLB');
});
