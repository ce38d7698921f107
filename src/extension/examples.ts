// The example guests that ship inside the extension (examples/ in the
// .vsix), with the launch configurations that run them. "Hyperstep: Open
// Example Guest" copies one into the workspace and adds these launches to its
// launch.json; the "Get started" walkthrough uses them. Kept free of the
// vscode module; test/extension/examples.test.ts checks this table against
// the examples/ folder and runs every launch through the debug session.

/** One launch configuration of an example: the attributes beyond type, request and name. */
export interface ExampleLaunch {
  /** Short label, unique within the example ("EPT", "shadow paging"). */
  label: string;
  /** The guest, relative to the example's folder. */
  program: string;
  /** A VM configuration file next to the program. */
  vm?: string;
  /** For guests that are not boot sectors and whose VM configuration does not say how they start. */
  mode?: 'flat32';
}

export interface Example {
  /** The folder under examples/. */
  id: string;
  title: string;
  detail: string;
  /** Every file that is copied, relative to the example's folder. */
  files: readonly string[];
  /** The file opened after copying. */
  open: string;
  launches: readonly ExampleLaunch[];
}

/** Where "Open Example Guest" puts copies, inside a workspace folder. */
export const EXAMPLES_FOLDER = 'hyperstep-examples';

export const EXAMPLES: readonly Example[] = [
  {
    id: 'cpuid-hlt-io-msr',
    title: 'CPUID, port I/O, MSRs, RDTSC and HLT',
    detail: 'The everyday VM exits of a KVM-like hypervisor, one after another',
    files: ['README.md', 'guest.asm', 'vm.json', 'expected-exits.txt'],
    open: 'guest.asm',
    launches: [{ label: 'VT-x', program: 'guest.asm', vm: 'vm.json' }],
  },
  {
    id: 'paging-ept-vs-shadow',
    title: 'Paging under EPT and under shadow paging',
    detail: 'One paged guest, two memory-virtualization designs: same output, very different VMM work',
    files: ['README.md', 'guest.asm', 'vm.json', 'shadow.vm.json', 'expected-exits.txt'],
    open: 'guest.asm',
    launches: [
      { label: 'EPT', program: 'guest.asm', vm: 'vm.json', mode: 'flat32' },
      { label: 'shadow paging', program: 'guest.asm', vm: 'shadow.vm.json', mode: 'flat32' },
    ],
  },
  {
    id: 'cr-shadows',
    title: 'CR0/CR4 masks, read shadows, CLTS, LMSW and CR3-target values',
    detail: 'Which control-register bits the guest owns and which exit to the VMM',
    files: ['README.md', 'guest.asm', 'vm.json', 'expected-exits.txt'],
    open: 'guest.asm',
    launches: [{ label: 'VT-x', program: 'guest.asm', vm: 'vm.json' }],
  },
  {
    id: 'exceptions',
    title: 'The exception bitmap',
    detail: 'Which guest exceptions reach the VMM and how they are reflected into the guest',
    files: ['README.md', 'guest.asm', 'vm.json', 'expected-exits.txt'],
    open: 'guest.asm',
    launches: [{ label: 'VT-x', program: 'guest.asm', vm: 'vm.json' }],
  },
  {
    id: 'timer-interrupt',
    title: 'A PIT tick injected into the guest',
    detail: 'PIC, PIT, event injection and interrupt-window exiting',
    files: ['README.md', 'guest.asm', 'expected-exits.txt'],
    open: 'guest.asm',
    launches: [{ label: 'VT-x', program: 'guest.asm', mode: 'flat32' }],
  },
  {
    id: 'two-vcpus',
    title: 'Two vCPUs sharing a counter',
    detail: 'START_VCPU, LOCK XADD and time slices on one physical CPU',
    files: ['README.md', 'guest.asm', 'vm.json', 'expected-exits.txt'],
    open: 'guest.asm',
    launches: [{ label: 'VT-x', program: 'guest.asm', vm: 'vm.json', mode: 'flat32' }],
  },
  {
    id: 'two-vcpus-init-sipi',
    title: 'Starting a vCPU with INIT and SIPI',
    detail: 'The boot processor starts the second vCPU through its local APIC',
    files: ['README.md', 'guest.asm', 'vm.json', 'expected-exits.txt'],
    open: 'guest.asm',
    launches: [{ label: 'VT-x', program: 'guest.asm', vm: 'vm.json', mode: 'flat32' }],
  },
  {
    id: 'virtio-vs-uart',
    title: 'virtio console vs. 16550 UART',
    detail: 'The same text through an emulated UART and through a virtqueue, with the exit counts of each',
    files: ['README.md', 'uart.asm', 'virtio.asm', 'message.inc', 'virtio.vm.json'],
    open: 'uart.asm',
    launches: [
      { label: 'UART', program: 'uart.asm', mode: 'flat32' },
      { label: 'virtio', program: 'virtio.asm', vm: 'virtio.vm.json', mode: 'flat32' },
    ],
  },
  {
    id: 'techniques',
    title: 'One kernel, four virtualization techniques',
    detail: 'A small kernel with its own GDT, IDT, TSS, paging, timer and a user task; compare the techniques on it',
    files: ['README.md', 'kernel.asm', 'kernel-pv.asm', 'kernel-common.inc', 'defs.inc', 'user-task.inc', 'shadow.vm.json'],
    open: 'kernel.asm',
    launches: [
      { label: 'EPT', program: 'kernel.asm', mode: 'flat32' },
      { label: 'shadow paging', program: 'kernel.asm', vm: 'shadow.vm.json', mode: 'flat32' },
    ],
  },
  {
    id: 'demo',
    title: 'Boot sector and VM-exit tour',
    detail: 'boot.asm: real mode to paged protected mode; vmm-tour.asm: one exit of each everyday kind',
    files: ['boot.asm', 'vmm-tour.asm'],
    open: 'vmm-tour.asm',
    launches: [
      { label: 'VM-exit tour', program: 'vmm-tour.asm', mode: 'flat32' },
      { label: 'boot sector', program: 'boot.asm' },
    ],
  },
];

export function exampleById(id: string): Example | undefined {
  return EXAMPLES.find((e) => e.id === id);
}

/** The launch of an example by label (case-insensitive), else its first. */
export function exampleLaunch(example: Example, label?: string): ExampleLaunch | undefined {
  if (label === undefined) return example.launches[0];
  return example.launches.find((l) => l.label.toLowerCase() === label.toLowerCase());
}

/** The name a launch has in launch.json. */
export function launchName(example: Example, launch: ExampleLaunch): string {
  return example.launches.length === 1 ? `Hyperstep: ${example.id}` : `Hyperstep: ${example.id} (${launch.label})`;
}

/**
 * The debug configuration of an example launch, the example copied to
 * `folder` (a path or a ${workspaceFolder}-relative path). `vm` stays
 * relative: the session resolves it against the program's folder.
 */
export function exampleConfiguration(example: Example, launch: ExampleLaunch, folder: string): Record<string, unknown> {
  return {
    type: 'hyperstep',
    request: 'launch',
    name: launchName(example, launch),
    program: `${folder}/${launch.program}`,
    ...(launch.vm !== undefined ? { vm: launch.vm } : {}),
    ...(launch.mode !== undefined ? { mode: launch.mode } : {}),
    stopOnEntry: true,
  };
}
