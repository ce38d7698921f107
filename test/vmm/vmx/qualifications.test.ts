// Exit qualifications and interruption information, against values computed by
// hand from the SDM layouts (vmx-facts §5, §6, §8).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeIoQualification, decodeIoQualification, encodeCrAccess, decodeCrAccess, encodeDrAccess, decodeDrAccess,
  encodeEptViolation, decodeEptViolation, encodeInterruptionInfo, decodeInterruptionInfo,
  vmInstructionError, vmInstructionErrorText, VM_INSTRUCTION_ERRORS,
} from '../../../src/vmm/vmx/qualifications';

test('I/O instruction qualifications (exit 30)', () => {
  const cases: [Parameters<typeof encodeIoQualification>[0], number, string][] = [
    [{ size: 1, direction: 'out', string: false, rep: false, immediate: false, port: 0x3f8 }, 0x03f80000, 'OUT DX, AL → port 0x3F8, 1 byte'],
    [{ size: 1, direction: 'in', string: false, rep: false, immediate: false, port: 0x3f8 }, 0x03f80008, 'IN AL, DX → port 0x3F8, 1 byte'],
    [{ size: 1, direction: 'out', string: false, rep: false, immediate: true, port: 0x80 }, 0x00800040, 'OUT 0x80, AL → port 0x80, 1 byte'],
    [{ size: 4, direction: 'in', string: false, rep: false, immediate: true, port: 0x60 }, 0x0060004b, 'IN EAX, 0x60 → port 0x60, 4 bytes'],
    [{ size: 2, direction: 'in', string: false, rep: false, immediate: false, port: 0x1f0 }, 0x01f00009, 'IN AX, DX → port 0x1F0, 2 bytes'],
    [{ size: 1, direction: 'out', string: true, rep: true, immediate: false, port: 0x3f8 }, 0x03f80030, 'REP OUTSB → port 0x3F8, 1 byte'],
    [{ size: 2, direction: 'in', string: true, rep: false, immediate: false, port: 0xcfc }, 0x0cfc0019, 'INSW → port 0xCFC, 2 bytes'],
  ];
  for (const [q, value, summary] of cases) {
    assert.equal(encodeIoQualification(q), value, summary);
    const d = decodeIoQualification(value);
    assert.equal(d.summary, summary);
    assert.deepEqual({ size: d.size, direction: d.direction, string: d.string, rep: d.rep, immediate: d.immediate, port: d.port }, q);
  }
});

test('control-register access qualifications (exit 28)', () => {
  const cases: [Parameters<typeof encodeCrAccess>[0], number, string][] = [
    [{ cr: 3, accessType: 'mov-to-cr', lmswMemory: false, gpr: 0, lmswSource: 0 }, 0x00000003, 'MOV CR3, EAX'],
    [{ cr: 3, accessType: 'mov-from-cr', lmswMemory: false, gpr: 0, lmswSource: 0 }, 0x00000013, 'MOV EAX, CR3'],
    [{ cr: 0, accessType: 'mov-to-cr', lmswMemory: false, gpr: 3, lmswSource: 0 }, 0x00000300, 'MOV CR0, EBX'],
    [{ cr: 8, accessType: 'mov-to-cr', lmswMemory: false, gpr: 1, lmswSource: 0 }, 0x00000108, 'MOV CR8, ECX'],
    [{ cr: 4, accessType: 'mov-from-cr', lmswMemory: false, gpr: 7, lmswSource: 0 }, 0x00000714, 'MOV EDI, CR4'],
    [{ cr: 0, accessType: 'clts', lmswMemory: false, gpr: 0, lmswSource: 0 }, 0x00000020, 'CLTS'],
    [{ cr: 0, accessType: 'lmsw', lmswMemory: false, gpr: 0, lmswSource: 1 }, 0x00010030, 'LMSW register operand, source 0x1'],
    [{ cr: 0, accessType: 'lmsw', lmswMemory: true, gpr: 0, lmswSource: 0xfff1 }, 0xfff10070, 'LMSW memory operand, source 0xFFF1'],
  ];
  for (const [q, value, summary] of cases) {
    assert.equal(encodeCrAccess(q), value, summary);
    const { summary: s, ...fields } = decodeCrAccess(value);
    assert.equal(s, summary);
    assert.deepEqual(fields, q);
  }
});

test('debug-register access qualifications (exit 29)', () => {
  assert.equal(encodeDrAccess({ dr: 7, direction: 'mov-to-dr', gpr: 0 }), 0x7);
  assert.equal(encodeDrAccess({ dr: 6, direction: 'mov-from-dr', gpr: 1 }), 0x116);
  assert.equal(decodeDrAccess(0x7).summary, 'MOV DR7, EAX');
  assert.deepEqual(decodeDrAccess(0x116), { dr: 6, direction: 'mov-from-dr', gpr: 1, summary: 'MOV ECX, DR6' });
});

test('EPT violation qualifications (exit 48)', () => {
  // Write to a read+execute page through a valid linear address, final translation:
  // bit 1 (write) | bit 3 (readable) | bit 5 (executable) | bit 7 | bit 8 = 0x1AA.
  const q = encodeEptViolation({ write: true, readable: true, executable: true, linearAddressValid: true, finalTranslation: true });
  assert.equal(q, 0x1aa);
  const d = decodeEptViolation(q, 0x00123000, 0x00400000);
  assert.equal(d.write, true);
  assert.equal(d.read, false);
  assert.equal(d.allowed, 'r-x');
  assert.equal(d.summary, 'data write at GPA 0x123000: EPT allows r-x (GVA 0x400000, final translation)');
  // Instruction fetch from an unmapped GPA during the guest page walk: bits 2 and 7.
  assert.equal(encodeEptViolation({ fetch: true, linearAddressValid: true }), 0x84);
  assert.equal(decodeEptViolation(0x84).summary, 'instruction fetch: GPA not mapped by EPT (guest page-table walk)');
  assert.equal(decodeEptViolation(0x1).summary, 'data read: GPA not mapped by EPT');
  assert.equal(encodeEptViolation({ nmiUnblocking: true, supervisorShadowStack: true }), 0x5000);
  for (let bit = 0; bit <= 14; bit++) assert.equal(encodeEptViolation(decodeEptViolation(1 << bit)), 1 << bit, `bit ${bit} round trip`);
});

test('interruption-information format', () => {
  assert.equal(encodeInterruptionInfo({ vector: 14, type: 3, errorCodeValid: true }), 0x80000b0e);
  assert.equal(decodeInterruptionInfo(0x80000b0e).summary, 'hardware exception, vector 14 (#PF), error code valid');
  assert.equal(encodeInterruptionInfo({ vector: 0x20, type: 0, errorCodeValid: false }), 0x80000020);
  assert.equal(decodeInterruptionInfo(0x80000020).summary, 'external interrupt, vector 32');
  assert.equal(encodeInterruptionInfo({ vector: 2, type: 2, errorCodeValid: false }), 0x80000202);
  assert.equal(encodeInterruptionInfo({ vector: 3, type: 6, errorCodeValid: false }), 0x80000603);
  assert.equal(decodeInterruptionInfo(0x80000603).summary, 'software exception, vector 3 (#BP)');
  assert.equal(encodeInterruptionInfo({ vector: 0x80, type: 4, errorCodeValid: false }), 0x80000480);
  assert.equal(decodeInterruptionInfo(0x80000480).typeName, 'software interrupt');
  assert.equal(decodeInterruptionInfo(0x80001b0d).summary, 'hardware exception, vector 13 (#GP), error code valid, NMI unblocking due to IRET');
  assert.equal(decodeInterruptionInfo(0x00000b0e).summary, 'no event (valid bit clear)');
  assert.equal(encodeInterruptionInfo({ vector: 14, type: 3, errorCodeValid: true, valid: false }), 0x00000b0e);
});

test('VM-instruction error numbers', () => {
  assert.equal(vmInstructionErrorText(12), '12: VMREAD/VMWRITE from/to unsupported VMCS component');
  assert.equal(vmInstructionErrorText(13), '13: VMWRITE to read-only VMCS component');
  assert.equal(vmInstructionError(4)?.name, 'VMXERR_VMLAUNCH_NONCLEAR_VMCS');
  assert.equal(vmInstructionError(7)?.message, 'VM entry with invalid control field(s)');
  assert.equal(vmInstructionError(28)?.name, 'VMXERR_INVALID_OPERAND_TO_INVEPT_INVVPID');
  for (const unused of [0, 14, 21, 27, 29]) assert.equal(vmInstructionError(unused), undefined, `${unused} is not an error number`);
  assert.deepEqual(VM_INSTRUCTION_ERRORS.map((e) => e.number), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17, 18, 19, 20, 22, 23, 24, 25, 26, 28]);
});

test('summaries by exit reason', async () => {
  const { summarizeExitQualification } = await import('../../../src/vmm/vmx/qualifications');
  assert.equal(summarizeExitQualification(30, 0x03f80000), 'OUT DX, AL → port 0x3F8, 1 byte');
  assert.equal(summarizeExitQualification(28, 0x13), 'MOV EAX, CR3');
  assert.equal(summarizeExitQualification(29, 0x7), 'MOV DR7, EAX');
  assert.equal(summarizeExitQualification(14, 0xc0001000), 'INVLPG of linear address 0xC0001000');
  assert.equal(summarizeExitQualification(48, 0x1aa, { gpa: 0x123000, gla: 0x400000 }), 'data write at GPA 0x123000: EPT allows r-x (GVA 0x400000, final translation)');
  assert.equal(summarizeExitQualification(49, 0, { gpa: 0xfee00000 }), 'EPT misconfiguration at GPA 0xFEE00000');
  assert.equal(summarizeExitQualification(33, 4), 'VM-entry failure: invalid VMCS link pointer');
  assert.equal(summarizeExitQualification(10, 0), undefined, 'CPUID has no qualification');
});

test('APIC-access qualifications (exit 44) and guest non-register state', async () => {
  const { encodeApicAccess, decodeApicAccess } = await import('../../../src/vmm/vmx/qualifications');
  const { decodeInterruptibility, activityStateName } = await import('../../../src/vmm/vmx/guest-state');
  // A linear write (type 1) to the TPR at offset 0x080.
  assert.equal(encodeApicAccess({ offset: 0x80, accessType: 1 }), 0x1080);
  assert.deepEqual(decodeApicAccess(0x1080), { offset: 0x80, accessType: 1, summary: 'linear write at APIC offset 0x080' });
  assert.equal(decodeApicAccess(0xf0b0).summary, 'guest-physical access for an instruction fetch or execution at APIC offset 0x0B0');
  assert.deepEqual(decodeInterruptibility(0x1), { blocking: ['STI'], reservedBits: 0, summary: 'blocking by STI' });
  assert.deepEqual(decodeInterruptibility(0xa).blocking, ['MOV_SS', 'NMI']);
  assert.equal(decodeInterruptibility(0).summary, 'not blocked');
  assert.equal(decodeInterruptibility(0x20).reservedBits, 0x20);
  assert.equal(activityStateName(1), 'HLT');
  assert.equal(activityStateName(3), 'wait-for-SIPI');
  assert.equal(activityStateName(4), 'reserved (4)');
});
