// The VT-x reference tables and the VMCS model.
export * from './encoding';
export * from './fields';
export * from './exit-reasons';
export * from './controls';
export * from './instruction-errors';
export {
  GPR_NAMES, encodeCrAccess, decodeCrAccess, encodeDrAccess, decodeDrAccess, encodeIoQualification, decodeIoQualification,
  encodeEptViolation, decodeEptViolation, INTERRUPTION_TYPES, EXCEPTION_MNEMONICS, encodeInterruptionInfo, decodeInterruptionInfo,
  summarizeExitQualification, APIC_ACCESS_TYPES, encodeApicAccess, decodeApicAccess, type ApicAccess,
  type CrAccess, type CrAccessType, type DrAccess, type IoAccess, type EptViolation, type InterruptionInfo,
} from './qualifications';
export * from './vmcs';
export * from './guest-state';
