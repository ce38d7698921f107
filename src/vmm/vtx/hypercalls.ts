// The VMCALL hypercall ABI: EAX holds the call number, arguments are in EBX,
// ECX and EDX, the result comes back in EAX (negative values are errors, with
// KVM's numbers from include/uapi/linux/kvm_para.h).

export const HYPERCALL = {
  /** EBX = guest-physical address, ECX = length (at most 4096): writes bytes to the VM's output; EAX = bytes written. */
  CONSOLE_WRITE: 0,
  /** Gives up the rest of the time slice: the caller goes to the back of its pCPU's run queue; EAX = 0. */
  YIELD: 1,
  /** EDX:EAX = the guest's time-stamp counter (with TSC offsetting applied). */
  READ_TIME: 2,
  /** EBX = exit code: the VM stops with reason 'shutdown' and this code; EAX = 0. */
  SHUTDOWN: 3,
  /**
   * EBX = vCPU index, ECX = entry EIP, EDX = initial ESP: starts a vCPU that
   * waits for SIPI (or was never started) in the caller's mode (segments, CR0,
   * CR3, CR4, GDTR, IDTR copied), other registers 0, like PSCI CPU_ON.
   * EAX = 0, -KVM_EINVAL for no such vCPU, HC_EBUSY when it is already running.
   */
  START_VCPU: 4,
} as const;

/** -KVM_ENOSYS: unknown hypercall number. */
export const HC_ENOSYS = -1000;
/** -KVM_EPERM: VMCALL above CPL 0. */
export const HC_EPERM = -1;
/** -KVM_EINVAL: bad argument (console write longer than 4096 bytes, START_VCPU of a vCPU that does not exist). */
export const HC_EINVAL = -22;

/** -EBUSY (Linux errno 16): START_VCPU of a vCPU that is already running (PSCI's ALREADY_ON). */
export const HC_EBUSY = -16;

export const CONSOLE_WRITE_MAX = 4096;

export const HYPERCALL_NAMES: Readonly<Record<number, string>> = { 0: 'console write', 1: 'yield', 2: 'read time', 3: 'shut down', 4: 'start vCPU' };
