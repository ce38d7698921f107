import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateCommand, completions, isCommand, UnknownCommandError, ExitLog, COMMAND_NAMES } from '../../../src/debug/inspect/index';
import { child, kids, runTo, vmOf, HEXFMT, DECFMT } from './helpers';

test('help lists every command; unknown commands throw UnknownCommandError', () => {
  const { vm } = runTo('hlt\n');
  const help = evaluateCommand(vm, 0, 'help', HEXFMT).result;
  for (const c of ['help', 'regs', 'vmcs', 'translate', 'ept', 'exits', 'stats', 'inject']) assert.match(help, new RegExp(`^${c}\\b`, 'm'));
  assert.deepEqual([...COMMAND_NAMES].sort(), ['ept', 'exits', 'help', 'inject', 'regs', 'stats', 'translate', 'vmcs']);
  assert.throws(() => evaluateCommand(vm, 0, 'eax + 1', HEXFMT), (e: unknown) => e instanceof UnknownCommandError && /unknown command 'eax'/.test(e.message));
  assert.throws(() => evaluateCommand(vm, 0, '   ', HEXFMT), UnknownCommandError);
  assert.equal(isCommand('  VMCS guest_rip'), true);
  assert.equal(isCommand('eax'), false);
  assert.throws(() => evaluateCommand(vm, 2, 'help', HEXFMT), /no vCPU 2/);
});

test('regs prints the registers and returns them as a node', () => {
  const { vm } = runTo('mov ebx, 0x1234\n stc\n hlt\n');
  const r = evaluateCommand(vm, 0, 'regs', HEXFMT);
  assert.match(r.result, /EBX=0x00001234/);
  assert.match(r.result, /EFLAGS=0x00000003 \[CF\]/);
  assert.ok(kids(r.node ?? { name: '', value: '' }).some((n) => n.name === 'EFLAGS'));
  assert.match(evaluateCommand(vm, 0, 'regs', DECFMT).result, /EBX=4660/);
});

test('vmcs: summary, one field by name or encoding, errors', () => {
  const { vm } = runTo('hlt\n');
  const s = evaluateCommand(vm, 0, 'vmcs', HEXFMT);
  assert.match(s.result, /^last exit: HLT \(12\), qualification 0x00000000/);
  assert.match(s.result, /pin-based VM-execution controls: INTR_EXITING \| NMI_EXITING \| VIRTUAL_NMIS/);
  assert.match(s.result, /VM-entry checks: the next VM entry passes the checks/);
  assert.equal(kids(s.node ?? { name: '', value: '' }).length, 7);
  const rip = vm.vcpus[0].vmcs.get('GUEST_RIP');
  const expected = `GUEST_RIP (0x681E) = 0x${rip.toString(16).toUpperCase().padStart(8, '0')} — guest RIP (EIP)`;
  assert.equal(evaluateCommand(vm, 0, 'vmcs GUEST_RIP', HEXFMT).result, expected);
  assert.equal(evaluateCommand(vm, 0, 'vmcs guest_rip', HEXFMT).result, expected);
  assert.equal(evaluateCommand(vm, 0, 'vmcs 0x681E', HEXFMT).result, expected);
  assert.equal(evaluateCommand(vm, 0, 'vmcs 681eh', HEXFMT).result, expected);
  assert.equal(evaluateCommand(vm, 0, 'vmcs GUEST_RIP', HEXFMT).node?.name, 'GUEST_RIP (0x681E)');
  assert.throws(() => evaluateCommand(vm, 0, 'vmcs GUEST_RI', HEXFMT), /no VMCS field 'GUEST_RI' \(did you mean GUEST_RIP/);
  assert.throws(() => evaluateCommand(vm, 0, 'vmcs 0x681F', HEXFMT), /error 12/);
  assert.throws(() => evaluateCommand(vm, 0, 'vmcs GUEST_RIP = banana', HEXFMT), /not a number/);
});

test('exits lists recent exits from the ExitLog; without a log it says so', () => {
  const vm = vmOf('mov eax, 0\n cpuid\n out 0xe9, al\n cpuid\n hlt\n');
  assert.throws(() => evaluateCommand(vm, 0, 'exits', HEXFMT), /no exit log/);
  const log = new ExitLog(vm, 2);
  assert.equal(evaluateCommand(vm, 0, 'exits', HEXFMT).result, 'no VM exits yet');
  vm.run(1000);
  assert.equal(log.total, 4);
  const r = evaluateCommand(vm, 0, 'exits', HEXFMT);
  const lines = r.result.split('\n');
  assert.equal(lines.length, 2, 'the ring holds 2');
  assert.match(lines[0], /^#3 vcpu0 10 CPUID/);
  assert.match(lines[1], /^#4 vcpu0 12 HLT/);
  assert.equal(evaluateCommand(vm, 0, 'exits 1', HEXFMT).result.split('\n').length, 1);
  const node = r.node ?? { name: '', value: '' };
  assert.deepEqual(kids(node).map((n) => n.name), ['#3 CPUID', '#4 HLT']);
  assert.equal(child(kids(kids(node)[1]), 'why').value, 'HLT exiting (primary control bit 7) is set');
  assert.throws(() => evaluateCommand(vm, 0, 'exits 0', HEXFMT), /at least 1/);
  assert.throws(() => evaluateCommand(vm, 0, 'exits many', HEXFMT), /not a number/);
  log.dispose();
  assert.throws(() => evaluateCommand(vm, 0, 'exits', HEXFMT), /no exit log/);
  assert.throws(() => new ExitLog(vm, 0), /positive/);
});

test('stats prints the perf kvm stat table', () => {
  const { vm } = runTo('cpuid\n hlt\n');
  const r = evaluateCommand(vm, 0, 'stats', HEXFMT);
  assert.match(r.result, /^Analyze events for all VMs, all VCPUs/);
  assert.match(r.result, /CPUID\s+1\s+50.00%/);
  assert.ok(kids(r.node ?? { name: '', value: '' }).some((n) => n.name === 'Exit reasons'));
});

test('completions: commands, VMCS field names, inject types, translate options', () => {
  assert.deepEqual(completions('e'), ['ept', 'exits']);
  assert.deepEqual(completions(''), [...COMMAND_NAMES]);
  assert.deepEqual(completions('vmcs GUEST_R'), ['vmcs GUEST_RSP', 'vmcs GUEST_RIP', 'vmcs GUEST_RFLAGS']);
  assert.ok(completions('vmcs pin').includes('vmcs PIN_BASED_VM_EXEC_CONTROL'));
  assert.deepEqual(completions('inject 14 h'), ['inject 14 hardware']);
  assert.deepEqual(completions('translate 0x1000 w'), ['translate 0x1000 write']);
  assert.deepEqual(completions('vmcs GUEST_RIP = 1'), []);
  assert.deepEqual(completions('nothing here'), []);
});

test('vmcs FIELD.BIT reads and writes one bit field', () => {
  const { vm } = runTo('hlt\n');
  const r = evaluateCommand(vm, 0, 'vmcs PIN_BASED_VM_EXEC_CONTROL.INTR_EXITING', HEXFMT);
  assert.match(r.result, /^PIN_BASED_VM_EXEC_CONTROL \(0x4000\)\.INTR_EXITING = 1 \(bit 0, read-write/);
  assert.equal(r.node?.evaluateName, 'vmcs PIN_BASED_VM_EXEC_CONTROL.INTR_EXITING');
  const w = evaluateCommand(vm, 0, 'vmcs cpu_based_vm_exec_control.rdtsc_exiting = 1', HEXFMT);
  assert.match(w.result, /RDTSC_EXITING = 1\. VMWRITE CPU_BASED_VM_EXEC_CONTROL \(0x4002\) = 0x/);
  assert.notEqual(vm.vcpus[0].vmcs.get('CPU_BASED_VM_EXEC_CONTROL') & 0x1000, 0);
  assert.match(evaluateCommand(vm, 0, 'vmcs VM_ENTRY_INTR_INFO_FIELD.type', HEXFMT).result, /= 0 \(external interrupt\)/);
  assert.throws(() => evaluateCommand(vm, 0, 'vmcs PIN_BASED_VM_EXEC_CONTROL.NOPE', HEXFMT), /no bit field 'NOPE' \(fields: INTR_EXITING/);
  assert.throws(() => evaluateCommand(vm, 0, 'vmcs VM_EXIT_REASON.FAILED_VMENTRY = 1', HEXFMT), /cannot be written/);
  assert.throws(() => evaluateCommand(vm, 0, 'vmcs GUEST_RIP.X', HEXFMT), /has no bit field/);
});
