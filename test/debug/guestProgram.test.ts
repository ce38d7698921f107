import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadGuestProgram, isAssemblySource } from '../../src/debug/guestProgram';
import { memoryFileAccessor, type FileAccessor } from '../../src/debug/fileAccessor';
import { LaunchError, parseLaunchConfig } from '../../src/debug/launchConfig';

/** Counts reads, to show each include is fetched once however many rounds it takes. */
function counting(files: Record<string, string | Uint8Array>): { accessor: FileAccessor; reads: string[] } {
  const inner = memoryFileAccessor(files);
  const reads: string[] = [];
  return { reads, accessor: { readFile: (p) => (reads.push(p), inner.readFile(p)) } };
}

const config = (program: string, extra: Record<string, unknown> = {}) => parseLaunchConfig({ program, ...extra });

test('NASM source is assembled; includes nested two deep are fetched once each', async () => {
  const { accessor, reads } = counting({
    '/p/main.asm': 'org 0x7C00\n%include "inc/a.inc"\ndb A, B\n',
    '/p/inc/a.inc': '%include "b.inc"\nA equ 0x11\n',
    '/p/inc/b.inc': 'B equ 0x22\n',
  });
  const g = await loadGuestProgram(accessor, config('/p/main.asm'));
  assert.deepEqual([...g.bytes], [0x11, 0x22]);
  assert.equal(g.origin, 0x7c00);
  assert.equal(g.fromSource, true);
  assert.deepEqual(reads.sort(), ['/p/inc/a.inc', '/p/inc/b.inc', '/p/main.asm']);
});

test('an include inside a false %if is never read', async () => {
  const { accessor, reads } = counting({
    '/p/main.asm': '%define USE 0\n%if USE\n%include "never.inc"\n%endif\nnop\n',
  });
  const g = await loadGuestProgram(accessor, config('/p/main.asm'));
  assert.deepEqual([...g.bytes], [0x90]);
  assert.deepEqual(reads, ['/p/main.asm']);
});

test('assembly errors become one file:line:col line each', async () => {
  const files = memoryFileAccessor({ '/p/bad.asm': 'nop\nfrobnicate al\nnop\nmov ax, [undefined_label]\n' });
  await assert.rejects(loadGuestProgram(files, config('/p/bad.asm')), (e: unknown) => {
    assert.ok(e instanceof LaunchError);
    const lines = e.message.split('\n');
    for (const l of lines) assert.match(l, /^\/p\/bad\.asm:\d+:\d+: error: \S/);
    assert.ok(lines.some((l) => l.startsWith('/p/bad.asm:2:')), e.message);
    return true;
  });
});

test('an unreadable include is reported by the assembler at the %include line', async () => {
  const files = memoryFileAccessor({ '/p/m.asm': 'nop\n%include "gone.inc"\n' });
  await assert.rejects(loadGuestProgram(files, config('/p/m.asm')), (e: unknown) => {
    assert.ok(e instanceof LaunchError);
    assert.match(e.message, /^\/p\/m\.asm:2:\d+: error: .*gone\.inc/);
    return true;
  });
});

test('flat32 assembles as 32-bit code by default', async () => {
  const files = memoryFileAccessor({ '/p/k.asm': 'mov eax, 1\n' });
  const real = await loadGuestProgram(files, config('/p/k.asm'));
  const flat = await loadGuestProgram(files, config('/p/k.asm', { mode: 'flat32' }));
  assert.equal(real.bytes[0], 0x66); // operand-size prefix in 16-bit code
  assert.deepEqual([...flat.bytes], [0xb8, 1, 0, 0, 0]);
});

test('other files are raw images; unreadable and empty ones are launch errors', async () => {
  const files = memoryFileAccessor({ '/p/img.bin': Uint8Array.from([0xf4]), '/p/empty.img': new Uint8Array(0) });
  const g = await loadGuestProgram(files, config('/p/img.bin'));
  assert.deepEqual([...g.bytes], [0xf4]);
  assert.equal(g.fromSource, false);
  await assert.rejects(loadGuestProgram(files, config('/p/empty.img')), /empty binary image/);
  await assert.rejects(loadGuestProgram(files, config('/p/none.asm')), (e: unknown) => e instanceof LaunchError && /Cannot read program '\/p\/none\.asm'/.test(e.message));
  assert.ok(isAssemblySource('x.ASM') && isAssemblySource('x.inc') && !isAssemblySource('x.bin'));
});

test('a Windows path: includes resolve beside it and errors name it with backslashes', async () => {
  const { accessor, reads } = counting({
    'C:\\w\\main.asm': '%include "lib/a.inc"\ndb A\n',
    'C:/w/lib/a.inc': 'A equ 7\n',
    'C:\\w\\bad.asm': 'mov ax, bx, cx\n',
  });
  const g = await loadGuestProgram(accessor, config('C:\\w\\main.asm'));
  assert.deepEqual([...g.bytes], [7]);
  assert.deepEqual(reads, ['C:\\w\\main.asm', 'C:/w/lib/a.inc']);
  await assert.rejects(loadGuestProgram(accessor, config('C:\\w\\bad.asm')), (e: unknown) => {
    assert.ok(e instanceof LaunchError);
    assert.match(e.message, /^C:\\w\\bad\.asm:1:\d+: error: /);
    return true;
  });
});
