// The `hyperstep` command: assemble, disassemble and run x86 guests headless.
import { readFileSync, writeFileSync } from 'node:fs';
import { assemble, formatDiagnostic } from '../x86/asm/index';
import { disassemble } from '../x86/disasm/index';
import { parseArgs, parseNumber, flagString, UsageError, type FlagSpec } from './args';
import { InputError, isSource, loadProgram, readTextFile } from './program';
import { exitCodeFor, runProgram, type StartMode } from './run';
import { bytesToText, hex4, hex8, registerDump } from './format';
import { runDemo } from './demo';
import { runReference } from './reference';
import { exitJson, formatExitLine, loadVmConfig, readVmConfig, runUnderVmm, stopProblem, vmExitCodeFor } from './vmrun';
import { formatExitStats } from '../vmm/vtx/stats-format';
import { COMPARE_USAGE, parseKernelRing, runCompare } from './compare';
import { formatHoleLine, formatTrapLine, runUnderSoft, virtualCpuLine } from './softrun';
import { formatSoftStats } from '../vmm/soft/stats-format';
import { isSoftTechnique, TECHNIQUES, toSoftVmOptions, type Technique, type VmConfig } from '../vmm/config/index';
import type { SoftTechnique } from '../vmm/soft/index';

declare const HYPERSTEP_VERSION: string | undefined;

const USAGE = `usage: hyperstep <command> [options]

commands:
  asm FILE [-o OUT] [--listing FILE] [--bits 16|32]
        assemble NASM source to a flat binary (default OUT: FILE with .bin)
  disasm FILE [--bits 16|32] [--org ADDR]
        disassemble a raw binary (or an .asm file, assembled first);
        one line per instruction: address, bytes, NASM text (default --bits 16)
  run FILE [--vm CONFIG] [--technique NAME] [--kernel-ring 1|3] [--bare]
           [--mode real|flat32] [--org ADDR] [--rom] [--max-instructions N]
           [--json] [--trace exits|traps]
        run a guest (.asm or raw binary) under the VMM (VT-x, KVM-like
        controls, or the VM configuration CONFIG) until it shuts down, halts
        with nothing to wake it, triple-faults or reaches the instruction limit
        (default 100000000); prints the guest's output as it appears, the
        exit statistics (perf kvm stat style, modelled cycles) and the final
        registers. --trace exits: one line per VM exit. --json: one document
        with every exit (at most 100000; then "exitsTruncated": true), the
        statistics, the stop, the console text and the registers.
        Without --mode: the configuration's entry.mode, else real mode for a
        boot sector (org 0x7C00 or none) and flat32 at the source's org
        otherwise; a flat32 guest without an org loads at 0x1000.
        --bare runs the bare machine without a VMM (as does --rom).
        --technique trap-and-emulate|binary-translation|paravirt (or the
        configuration's technique) runs a flat32 guest kernel on the software
        VMM instead: the statistics are its traps, translation and hypercalls,
        --trace traps prints every trap and virtualization hole as it happens;
        --kernel-ring 3 (trap-and-emulate, binary-translation) runs the guest
        kernel in ring 3 instead of 1 (or the configuration's kernelRing)
${COMPARE_USAGE}
  demo  boot the demo guest in examples/demo and narrate what it did, then
        run examples/demo/vmm-tour.asm under the VMM and show its exits
  reference exits|vmcs|controls|errors [--json]
        print a VT-x table: exit reasons, VMCS fields, control bits, VM-instruction errors
  help  this text

exit codes: 0 success (run: guest halted, or shut down with code 0), 1 bad
input (assembly errors, unreadable file, invalid VM configuration), 2 bad
usage, 3 guest triple fault, 4 instruction limit, 5 VM error (unhandled VM
exit, failed VM entry), 6 guest shut down with a non-zero code (for the
debug-exit port: wrote a value other than 0)`;

function out(s: string): void {
  process.stdout.write(s + '\n');
}

function bitsFlag(v: string | undefined, dflt: 16 | 32): 16 | 32 {
  if (v === undefined) return dflt;
  if (v === '16') return 16;
  if (v === '32') return 32;
  throw new UsageError(`--bits must be 16 or 32 (got '${v}')`);
}

function cmdAsm(argv: string[]): number {
  const p = parseArgs(argv, { o: { value: true, alias: '-o' }, output: { value: true }, listing: { value: true }, bits: { value: true } });
  if (p.positional.length !== 1) throw new UsageError('asm needs exactly one source FILE');
  const file = p.positional[0];
  const source = readTextFile(file);
  if (source === undefined) throw new InputError(`${file}: no such file`);
  const bits = flagString(p, 'bits');
  const result = assemble(source, { fileName: file, readFile: readTextFile, bits: bits === undefined ? undefined : bitsFlag(bits, 16) });
  for (const d of result.diagnostics) process.stderr.write(formatDiagnostic(d) + '\n');
  if (!result.ok) {
    const n = result.diagnostics.filter((d) => d.severity === 'error').length;
    process.stderr.write(`${file}: ${n} error${n === 1 ? '' : 's'}, no output written\n`);
    return 1;
  }
  const outFile = flagString(p, 'o') ?? flagString(p, 'output') ?? file.replace(/\.[^./\\]*$/, '') + '.bin';
  writeFileSync(outFile, result.bytes);
  const listing = flagString(p, 'listing');
  if (listing) writeFileSync(listing, result.listing);
  process.stderr.write(`${outFile}: ${result.bytes.length} bytes${listing ? `, listing in ${listing}` : ''}\n`);
  return 0;
}

function cmdDisasm(argv: string[]): number {
  const p = parseArgs(argv, { bits: { value: true }, org: { value: true } });
  if (p.positional.length !== 1) throw new UsageError('disasm needs exactly one FILE');
  const file = p.positional[0];
  const bits = bitsFlag(flagString(p, 'bits'), 16);
  const orgText = flagString(p, 'org');
  let org = orgText === undefined ? 0 : parseNumber(orgText, '--org');
  let bytes: Uint8Array;
  if (isSource(file)) {
    const prog = loadProgram(file, { bits });
    bytes = prog.bytes;
    if (orgText === undefined && prog.origin !== undefined) org = prog.origin;
  } else {
    try {
      bytes = new Uint8Array(readFileSync(file));
    } catch {
      throw new InputError(`${file}: no such file`);
    }
  }
  for (const line of disassemble(bytes, bits, org)) {
    const hexBytes = Array.from(line.bytes, (b) => b.toString(16).toUpperCase().padStart(2, '0')).join('');
    out(`${(line.address >>> 0).toString(16).toUpperCase().padStart(8, '0')}  ${hexBytes.padEnd(18)}${line.text}`);
  }
  return 0;
}

function cmdRun(argv: string[]): number {
  const spec: Record<string, FlagSpec> = {
    bare: {}, mode: { value: true }, org: { value: true }, rom: {}, 'max-instructions': { value: true }, json: {}, vm: { value: true }, trace: { value: true }, technique: { value: true }, 'kernel-ring': { value: true },
  };
  const p = parseArgs(argv, spec);
  if (p.positional.length !== 1) throw new UsageError('run needs exactly one FILE');
  const modeText = flagString(p, 'mode');
  if (modeText !== undefined && modeText !== 'real' && modeText !== 'flat32') throw new UsageError(`--mode must be real or flat32 (got '${modeText}')`);
  const rom = p.flags.has('rom');
  if (rom && modeText !== undefined) throw new UsageError('--rom and --mode exclude each other: a ROM starts at the reset vector in real mode');
  const vmPath = flagString(p, 'vm');
  const trace = flagString(p, 'trace');
  if (trace !== undefined && trace !== 'exits' && trace !== 'traps') throw new UsageError(`--trace takes 'exits' or 'traps' (got '${trace}')`);
  const techniqueText = flagString(p, 'technique');
  if (techniqueText !== undefined && !(TECHNIQUES as readonly string[]).includes(techniqueText)) throw new UsageError(`--technique must be one of ${TECHNIQUES.join(', ')} (got '${techniqueText}')`);
  // A ROM starts at the reset vector, which only the bare machine models.
  const bare = p.flags.has('bare') || rom;
  if (bare && vmPath !== undefined) throw new UsageError(`--vm runs the guest under the VMM; it cannot be combined with ${rom ? '--rom' : '--bare'}`);
  if (bare && trace !== undefined) throw new UsageError(`--trace exits needs the VMM; it cannot be combined with ${rom ? '--rom' : '--bare'}`);
  const orgText = flagString(p, 'org');
  const org = orgText === undefined ? undefined : parseNumber(orgText, '--org');
  const maxText = flagString(p, 'max-instructions');
  const maxInstructions = maxText === undefined ? 100_000_000 : parseNumber(maxText, '--max-instructions');
  if (maxInstructions <= 0) throw new UsageError('--max-instructions must be positive');
  const json = p.flags.has('json');
  const file = p.positional[0];

  const ringText = flagString(p, 'kernel-ring');
  const kernelRing = ringText === undefined ? undefined : parseKernelRing(ringText);
  if (bare && techniqueText !== undefined) throw new UsageError(`--technique runs the guest under a VMM; it cannot be combined with ${rom ? '--rom' : '--bare'}`);
  if (!bare) {
    // The configuration is read first: its technique decides which VMM runs the guest.
    const read = vmPath === undefined ? undefined : readVmConfig(vmPath, { technique: techniqueText });
    const technique: Technique = read?.config.technique ?? (techniqueText as Technique | undefined) ?? 'vtx';
    if (isSoftTechnique(technique)) {
      if (trace === 'exits') throw new UsageError(`--trace exits needs VT-x; under ${technique} use --trace traps`);
      if (modeText === 'real') throw new UsageError(`--technique ${technique} runs a flat32 guest kernel; --mode real needs the vtx technique`);
      return cmdRunSoft({ file, technique, org, maxInstructions, json, vmPath, config: read?.config, trace: trace === 'traps', kernelRing });
    }
    if (kernelRing !== undefined) throw new UsageError('--kernel-ring applies to trap-and-emulate and binary-translation (--technique); under VT-x the guest kernel runs in ring 0 of VMX non-root operation');
    if (trace === 'traps') throw new UsageError('--trace traps needs a software technique (--technique); under VT-x use --trace exits');
    return cmdRunVm({ file, modeText: modeText as 'real' | 'flat32' | undefined, org, maxInstructions, json, vmPath, trace: trace === 'exits', technique: techniqueText });
  }

  const mode: StartMode = rom ? 'rom' : (modeText as 'real' | 'flat32' | undefined) ?? 'real';
  if (orgText !== undefined && mode !== 'flat32') throw new UsageError('--org applies to --mode flat32 only (a boot sector always loads at 0x7C00)');
  const program = loadProgram(file, { bits: mode === 'flat32' ? 32 : 16 });
  if (!json) for (const w of program.warnings) process.stderr.write(w + '\n');
  const outcome = runProgram(program, {
    mode,
    org,
    maxInstructions,
    onConsole: json ? undefined : (port, bytes) => {
      if (port === 'com1') process.stdout.write(Buffer.from(bytes));
    },
  });
  const { machine, stop } = outcome;
  const state = machine.state();
  if (json) {
    const result = {
      file: program.path,
      mode,
      loadAddress: outcome.loadAddress,
      stop: { reason: stop.reason, message: stop.message, cs: stop.cs, eip: stop.eip },
      instructions: outcome.instructions,
      state,
      console: {
        com1: bytesToText(machine.console.com1),
        lpt1: bytesToText(machine.console.lpt1),
        e9: bytesToText(machine.console.e9),
        post: [...machine.console.post],
      },
    };
    out(JSON.stringify(result, null, 2));
  } else {
    const c = machine.console;
    if (c.com1.length > 0 && c.com1[c.com1.length - 1] !== 10) out('');
    if (c.e9.length > 0) out(`port 0xE9: ${JSON.stringify(bytesToText(c.e9))}`);
    if (c.lpt1.length > 0) out(`LPT1: ${JSON.stringify(bytesToText(c.lpt1))}`);
    if (c.post.length > 0) out(`POST codes: ${c.post.map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ')}`);
    out(`stopped: ${stop.reason} at ${hex4(stop.cs)}:${hex8(stop.eip)} after ${outcome.instructions.toLocaleString('en-US')} instructions — ${stop.message}`);
    out(registerDump(machine));
  }
  return exitCodeFor(stop);
}

interface SoftRunArgs {
  file: string;
  technique: SoftTechnique;
  org: number | undefined;
  maxInstructions: number;
  json: boolean;
  vmPath: string | undefined;
  config: VmConfig | undefined;
  trace: boolean;
  /** --kernel-ring, over the configuration's kernelRing. */
  kernelRing: 1 | 3 | undefined;
}

/** A flat32 guest kernel on the software VMM: output as it comes, then the VMM's statistics and the stop. */
function cmdRunSoft(a: SoftRunArgs): number {
  let config;
  let notApplied: string[] = [];
  if (a.config !== undefined) {
    const converted = toSoftVmOptions(a.config);
    if (!converted.ok) throw new InputError(converted.errors.map((e) => `${a.vmPath}: ${e.path}: ${e.message}`).join('\n'));
    config = converted.options;
    notApplied = converted.notApplied;
  }
  const program = loadProgram(a.file, { bits: 32 });
  if (!a.json) {
    for (const w of program.warnings) process.stderr.write(w + '\n');
    for (const n of notApplied) process.stderr.write(`${a.vmPath}: note: ${n}\n`);
  }
  let lastChar = '\n';
  let pending = '';
  const flush = (): void => {
    if (pending === '') return;
    if (a.trace) for (const line of pending.replace(/\r?\n$/, '').split(/\r?\n/)) out(`guest> ${line}`);
    else {
      process.stdout.write(Buffer.from(pending, 'latin1'));
      lastChar = pending[pending.length - 1];
    }
    pending = '';
  };
  if (a.kernelRing === 3 && a.technique === 'paravirt') throw new UsageError('--kernel-ring 3 applies to trap-and-emulate and binary-translation: paravirt runs its kernel in ring 1 by its hypercall ABI');
  const outcome = runUnderSoft(program, {
    technique: a.technique,
    kernelRing: a.kernelRing,
    org: a.org,
    maxInstructions: a.maxInstructions,
    config,
    onOutput: a.json ? undefined : (text) => {
      pending += text;
      if (a.trace ? text.includes('\n') : text.includes('\n') || pending.length >= 4096) flush();
    },
    onTrap: a.trace && !a.json ? (t) => out(formatTrapLine(t)) : undefined,
    onHole: a.trace && !a.json ? (h) => out(formatHoleLine(h)) : undefined,
    onSlice: a.trace ? undefined : flush,
  });
  flush();
  const { vm, stop } = outcome;
  const report = vm.stats.report();
  if (a.json) {
    out(JSON.stringify({
      file: program.path, technique: a.technique, loadAddress: outcome.loadAddress,
      vm: { config: a.vmPath ?? null, notApplied },
      stats: report, holes: vm.holes,
      ...(vm.translator !== null ? { translation: vm.translator.cached().map((b) => ({ start: b.start, instructions: b.instrs.length, callouts: b.instrs.filter((i) => i.callout).length, runs: b.runs, valid: b.valid })) } : {}),
      stop: { reason: stop.reason, message: stop.message, rip: stop.rip, ...(stop.code !== undefined ? { code: stop.code } : {}) },
      instructions: outcome.instructions, console: outcome.console,
      virtualCpu: { cpl: vm.v.cpl, interrupts: vm.v.interrupts, iopl: vm.v.iopl, cr0: vm.v.cr0, cr3: vm.v.cr3, gdtr: vm.v.gdtr, idtr: vm.v.idtr },
      state: vm.machine.state(),
    }, null, 2));
  } else {
    if (lastChar !== '\n') out('');
    out('');
    for (const line of formatSoftStats(report, a.technique)) out(line);
    if (vm.holes.length > 0 && !a.trace) {
      out('');
      out(`first virtualization holes (${vm.holes.length.toLocaleString('en-US')} in all; --trace traps lists every one):`);
      for (const h of vm.holes.slice(0, 3)) out(`  ${formatHoleLine(h)}`);
    }
    out('');
    const code = stop.code !== undefined ? ` (exit code ${stop.code})` : '';
    out(`stopped: ${stop.reason}${code} at ${hex8(stop.rip)} after ${outcome.instructions.toLocaleString('en-US')} instructions, ${report.traps.toLocaleString('en-US')} traps into the VMM — ${stop.message}`);
    out(virtualCpuLine(vm));
    out(registerDump(vm.machine));
  }
  if (stop.reason === 'error') process.stderr.write(`hyperstep: VMM error: ${stop.message}\n`);
  return vmExitCodeFor(stop, vm.platform.debugExit.value);
}

interface VmRunArgs {
  file: string;
  modeText: 'real' | 'flat32' | undefined;
  org: number | undefined;
  maxInstructions: number;
  json: boolean;
  vmPath: string | undefined;
  trace: boolean;
  /** --technique vtx over a configuration that names another. */
  technique?: string;
}

/**
 * The guest under the VMM. Without --mode the VM configuration's entry mode
 * decides, else the image: org 0x7C00 (or none, for a raw binary) is a boot
 * sector in real mode, any other org (or an --org) a flat32 guest loaded there.
 */
function cmdRunVm(a: VmRunArgs): number {
  const vmConfig = a.vmPath === undefined ? undefined : loadVmConfig(a.vmPath, { technique: a.technique });
  let mode = a.modeText ?? (a.vmPath !== undefined ? vmConfig?.config.entry.mode : undefined);
  let program = loadProgram(a.file, { bits: mode === 'flat32' ? 32 : 16 });
  if (mode === undefined) {
    mode = a.org === undefined && (program.origin === undefined || program.origin === 0 || program.origin === 0x7c00) ? 'real' : 'flat32';
    if (mode === 'flat32') program = loadProgram(a.file, { bits: 32 });
  }
  if (a.org !== undefined && mode !== 'flat32') throw new UsageError('--org applies to --mode flat32 only (a boot sector always loads at 0x7C00)');
  const org = a.org ?? (a.modeText === undefined && mode === 'flat32' && vmConfig !== undefined && !program.origin ? vmConfig.config.entry.org : undefined);
  if (!a.json) {
    for (const w of program.warnings) process.stderr.write(w + '\n');
    for (const n of vmConfig?.notApplied ?? []) process.stderr.write(`${a.vmPath}: note: ${n}\n`);
  }
  // Without --trace the guest's output streams as it comes; with it, each
  // completed line of output is printed between the exit lines, marked "guest>".
  let pending = '';
  let lastChar = '\n';
  const flush = (): void => {
    if (pending === '') return;
    if (a.trace) {
      for (const line of pending.replace(/\r?\n$/, '').split(/\r?\n/)) out(`guest> ${line}`);
    } else {
      process.stdout.write(Buffer.from(pending, 'latin1'));
      lastChar = pending[pending.length - 1];
    }
    pending = '';
  };
  const outcome = runUnderVmm(program, {
    mode,
    org,
    maxInstructions: a.maxInstructions,
    vmConfig,
    keepExits: a.json,
    onOutput: a.json ? undefined : (text) => {
      pending += text;
      if (a.trace ? text.includes('\n') : text.includes('\n') || pending.length >= 4096) flush();
    },
    onExit: a.trace && !a.json ? (e, note) => out(formatExitLine(e, note)) : undefined,
    // A partial line shows up on a long run too (with --trace only completed lines are printed).
    onSlice: a.trace ? undefined : flush,
  });
  flush();
  const { vm, stop } = outcome;
  const report = vm.stats.report();
  if (a.json) {
    const result: Record<string, unknown> = {
      file: program.path,
      mode,
      loadAddress: outcome.loadAddress,
      vm: { config: a.vmPath ?? null, notApplied: vmConfig?.notApplied ?? [], costModel: report.model },
      exits: outcome.exits.map(exitJson),
      ...(outcome.exitsTruncated ? { exitsTruncated: true } : {}),
      exitCount: outcome.exitCount,
      stats: report,
      stop: { reason: stop.reason, message: stop.message, rip: stop.rip, ...(stop.code !== undefined ? { code: stop.code } : {}), ...(stop.entryFailure !== undefined ? { entryFailure: stop.entryFailure } : {}) },
      instructions: outcome.instructions,
      console: outcome.console,
      state: vm.machine.state(),
    };
    out(JSON.stringify(result, null, 2));
  } else {
    if (lastChar !== '\n') out('');
    const post = vm.machine.console.post;
    if (post.length > 0) out(`POST codes: ${post.map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ')}`);
    out('');
    if (report.total === 0) out('no VM exits');
    else for (const line of formatExitStats(report)) out(line);
    out('');
    const s = vm.machine.state();
    const code = stop.code !== undefined ? ` (exit code ${stop.code})` : '';
    out(`stopped: ${stop.reason}${code} at ${hex4(s.cs)}:${hex8(stop.rip)} after ${outcome.instructions.toLocaleString('en-US')} instructions, ${outcome.exitCount.toLocaleString('en-US')} VM exits — ${stop.message}`);
    out(registerDump(vm.machine));
  }
  const problem = stopProblem(stop);
  if (problem !== undefined) process.stderr.write(`hyperstep: ${problem}\n`);
  return vmExitCodeFor(stop, vm.platform?.debugExit.value ?? null);
}

export function main(argv: string[]): number {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'asm':
        return cmdAsm(rest);
      case 'disasm':
        return cmdDisasm(rest);
      case 'run':
        return cmdRun(rest);
      case 'compare':
        return runCompare(rest, out, (line) => process.stderr.write(line + '\n'));
      case 'demo':
        return runDemo(out);
      case 'reference':
        return runReference(rest, out);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        out(USAGE);
        return cmd === undefined ? 2 : 0;
      case '--version':
      case 'version':
        out(typeof HYPERSTEP_VERSION === 'string' ? HYPERSTEP_VERSION : 'development');
        return 0;
      default:
        throw new UsageError(`unknown command '${cmd}'`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`hyperstep: ${e.message}\n\n${USAGE}\n`);
      return 2;
    }
    if (e instanceof InputError) {
      process.stderr.write(e.message + '\n');
      return 1;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    process.stderr.write(`hyperstep: internal error: ${err.message}\n${err.stack ?? ''}\n`);
    return 70;
  }
}

// A reader that stops early (`| head`) is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

process.exitCode = main(process.argv.slice(2));
