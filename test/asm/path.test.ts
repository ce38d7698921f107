// The POSIX path helper used to resolve %include (src/x86 cannot use Node's path module).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dirname, normalize, resolveRelative } from '../../src/x86/asm/path';

test('dirname', () => {
  assert.equal(dirname('a/b/c.asm'), 'a/b');
  assert.equal(dirname('c.asm'), '.');
  assert.equal(dirname('/c.asm'), '/');
  assert.equal(dirname('/x/y.inc'), '/x');
});

test('normalize removes . and resolves ..', () => {
  assert.equal(normalize('a/./b/../c'), 'a/c');
  assert.equal(normalize('../a/b/../../c'), '../c');
  assert.equal(normalize('/a/../../b'), '/b');
  assert.equal(normalize('a//b/'), 'a/b');
  assert.equal(normalize('./'), '.');
});

test('resolveRelative resolves against the including file, absolute targets stay absolute', () => {
  assert.equal(resolveRelative('src/main.asm', 'inc/defs.inc'), 'src/inc/defs.inc');
  assert.equal(resolveRelative('src/main.asm', '../common/b.inc'), 'common/b.inc');
  assert.equal(resolveRelative('main.asm', 'x.inc'), 'x.inc');
  assert.equal(resolveRelative('/abs/dir/main.asm', 'x.inc'), '/abs/dir/x.inc');
  assert.equal(resolveRelative('src/main.asm', '/etc/x.inc'), '/etc/x.inc');
});
