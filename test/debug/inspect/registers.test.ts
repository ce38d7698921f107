import { test } from 'node:test';
import assert from 'node:assert/strict';
import { registerNodes, takeStopSnapshot } from '../../../src/debug/inspect/index';
import { at, child, kids, runTo, vmOf, HEXFMT, DECFMT } from './helpers';

test('EFLAGS has one child per flag with the bit values', () => {
  const { vm, stop } = runTo('mov eax, 1\n cmp eax, 1\n stc\n std\n hlt\n');
  assert.equal(stop.reason, 'hlt');
  const eflags = child(registerNodes(vm, 0, HEXFMT), 'EFLAGS');
  const flags = kids(eflags);
  assert.deepEqual(flags.map((f) => f.name), ['CF', 'PF', 'AF', 'ZF', 'SF', 'TF', 'IF', 'DF', 'OF', 'IOPL', 'NT', 'RF', 'VM', 'AC', 'VIF', 'VIP', 'ID']);
  const v = (n: string): string => child(flags, n).value;
  assert.equal(v('CF'), '1');
  assert.equal(v('ZF'), '1');
  assert.equal(v('DF'), '1');
  assert.equal(v('SF'), '0');
  assert.equal(v('IF'), '0');
  assert.equal(v('IOPL'), '0');
  assert.match(child(flags, 'ZF').type ?? '', /bit 6/);
  assert.equal(eflags.value, `0x${vm.vcpus[0].cpu.eflags.toString(16).toUpperCase().padStart(8, '0')}`);
});

test('CR0 is decoded into named bits and shows the guest view', () => {
  const { vm } = runTo('hlt\n');
  const cr0 = at(registerNodes(vm, 0, HEXFMT), 'Control registers', 'CR0');
  const bits = kids(cr0);
  assert.deepEqual(bits.filter((b) => b.name !== 'guest view').map((b) => b.name), ['PE', 'MP', 'EM', 'TS', 'ET', 'NE', 'WP', 'AM', 'NW', 'CD', 'PG']);
  assert.equal(child(bits, 'PE').value, '1');
  assert.equal(child(bits, 'PG').value, '0');
  assert.equal(cr0.set, undefined);
  assert.match(cr0.readOnlyReason ?? '', /virtualizes/);
  const cr4 = kids(at(registerNodes(vm, 0, HEXFMT), 'Control registers', 'CR4'));
  // The real CR4 has VMXE (fixed in VMX operation); the guest's view hides it.
  assert.equal(child(cr4, 'VMXE').value, '1');
  assert.equal(child(cr4, 'guest view').value, '0x00000000');
});

test('segment registers show selector and hidden base, limit and decoded attributes', () => {
  const { vm } = runTo('hlt\n');
  const regs = registerNodes(vm, 0, HEXFMT);
  const cs = at(regs, 'Segments', 'CS');
  const parts = kids(cs);
  assert.equal(child(parts, 'selector').value, '0x0008');
  assert.equal(child(parts, 'base').value, '0x00000000');
  assert.equal(child(parts, 'limit').value, '0xFFFFFFFF');
  const attrs = kids(child(parts, 'attributes'));
  assert.equal(child(attrs, 'type').value, '0xB (code execute/read, accessed)');
  assert.equal(child(attrs, 'S').value, '1');
  assert.equal(child(attrs, 'DPL').value, '0');
  assert.equal(child(attrs, 'P').value, '1');
  assert.equal(child(attrs, 'D/B').value, '1');
  assert.equal(child(attrs, 'G').value, '1');
  assert.equal(child(attrs, 'unusable').value, '0');
  assert.equal(cs.set, undefined, 'selectors are not editable');
  assert.match(cs.readOnlyReason ?? '', /descriptor/);
  const tr = at(regs, 'Descriptor tables', 'TR');
  assert.match(child(kids(child(kids(tr), 'attributes')), 'type').value, /TSS \(busy\)/);
  const gdtr = at(regs, 'Descriptor tables', 'GDTR');
  assert.equal(kids(gdtr).length, 2);
});

test('debug registers decode DR7, MSRs list the CPU\'s MSRs', () => {
  const { vm } = runTo('hlt\n');
  const regs = registerNodes(vm, 0, HEXFMT);
  const dr7 = kids(at(regs, 'Debug registers', 'DR7'));
  assert.equal(child(dr7, 'L0').value, '0');
  assert.equal(child(dr7, 'R/W0').value, '0 (execute)');
  const msrs = kids(child(regs, 'MSRs'));
  assert.ok(msrs.some((m) => m.name === 'IA32_EFER (0xC0000080)'));
  assert.equal(child(msrs, 'IA32_PAT').value, '0x0007040600070406');
});

test('changed marks: values that differ from the previous stop', () => {
  const vm = vmOf('mov eax, 5\n mov ebx, 7\n stc\n hlt\n');
  assert.equal(vm.run(1).reason, 'limit');
  const prev = takeStopSnapshot(vm, 0);
  vm.run(1);
  const regs = registerNodes(vm, 0, HEXFMT, prev);
  assert.equal(child(regs, 'EBX').changed, true);
  assert.equal(child(regs, 'EAX').changed, undefined);
  assert.equal(child(regs, 'EIP').changed, true);
  const flags = kids(child(regs, 'EFLAGS'));
  assert.equal(child(flags, 'CF').changed, undefined, 'stc has not run yet');
  vm.run(1);
  assert.equal(vm.vcpus[0].cpu.eflags & 1, 1, 'stc ran');
  const after = registerNodes(vm, 0, HEXFMT, takeStopSnapshot(vm, 0));
  assert.ok(after.every((n) => n.changed === undefined), 'nothing changed against a snapshot of the same stop');
  const regs2 = registerNodes(vm, 0, HEXFMT, prev);
  assert.equal(child(kids(child(regs2, 'EFLAGS')), 'CF').changed, true);
  // A snapshot of another vCPU marks nothing.
  assert.equal(child(registerNodes(vm, 0, HEXFMT, { ...prev, vcpu: 1 }), 'EBX').changed, undefined);
});

test('editing a register changes what the guest computes next', () => {
  const vm = vmOf('nop\n out 0xe9, al\n hlt\n');
  vm.run(1);
  const eax = child(registerNodes(vm, 0, HEXFMT), 'EAX');
  assert.equal(eax.set?.('0x41'), '0x00000041');
  assert.equal(vm.vcpus[0].cpu.r[0], 0x41);
  vm.run(100);
  assert.equal(String.fromCharCode(...vm.output), 'A');
});

test('editing flags and EFLAGS; refusals say why', () => {
  const vm = vmOf('nop\n hlt\n');
  vm.run(1);
  const eflags = child(registerNodes(vm, 0, HEXFMT), 'EFLAGS');
  const zf = child(kids(eflags), 'ZF');
  assert.equal(zf.set?.('1'), '1');
  assert.equal((vm.vcpus[0].cpu.eflags >>> 6) & 1, 1);
  assert.throws(() => zf.set?.('2'), /does not fit/);
  const vmFlag = child(kids(eflags), 'VM');
  assert.equal(vmFlag.set, undefined);
  assert.match(vmFlag.readOnlyReason ?? '', /virtual-8086/);
  assert.throws(() => eflags.set?.('0x20002'), /EFLAGS.VM/);
  assert.equal(eflags.set?.('0x202'), '0x00000202');
  assert.equal(vm.vcpus[0].cpu.eflags, 0x202);
  assert.throws(() => child(registerNodes(vm, 0, HEXFMT), 'EIP').set?.('hello'), /not a number/);
  const cr2 = at(registerNodes(vm, 0, HEXFMT), 'Control registers', 'CR2');
  assert.equal(cr2.set?.('0x1234'), '0x00001234');
  assert.equal(vm.vcpus[0].cpu.cr2, 0x1234);
});

test('decimal formatting when hex is off', () => {
  const { vm } = runTo('mov ebx, 300\n hlt\n');
  const regs = registerNodes(vm, 0, DECFMT);
  assert.equal(child(regs, 'EBX').value, '300');
  assert.equal(child(registerNodes(vm, 0, HEXFMT), 'EBX').value, '0x0000012C');
  assert.throws(() => registerNodes(vm, 3, HEXFMT), /no vCPU 3/);
});

test('evaluateName uses the names the expression evaluator resolves', () => {
  const { vm } = runTo('hlt\n');
  const regs = registerNodes(vm, 0, HEXFMT);
  assert.equal(child(regs, 'EAX').evaluateName, 'eax');
  assert.equal(child(regs, 'EIP').evaluateName, 'eip');
  const flags = kids(child(regs, 'EFLAGS'));
  assert.equal(child(flags, 'ZF').evaluateName, 'zf');
  assert.equal(child(flags, 'IOPL').evaluateName, undefined);
  const cs = at(regs, 'Segments', 'CS');
  assert.equal(cs.evaluateName, 'cs');
  assert.equal(child(kids(cs), 'base').evaluateName, undefined);
  assert.equal(at(regs, 'Control registers', 'CR3').evaluateName, 'cr3');
  assert.equal(at(regs, 'Debug registers', 'DR7').evaluateName, 'dr7');
  assert.equal(at(regs, 'Debug registers', 'DR4').evaluateName, undefined);
});
