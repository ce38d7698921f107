// Launch paths in a workspace that is not on disk: bare absolute paths (what
// ${workspaceFolder} expands to there) become the folder's URI, so the session
// reports sources the workbench can open; on disk nothing changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type * as vscodeApi from 'vscode';
import { withWorkspaceUris } from '../../src/extension/registration';

function folder(scheme: string, authority: string): Pick<vscodeApi.WorkspaceFolder, 'uri'> {
  const uri = { scheme, with: (c: { path: string }) => ({ toString: () => `${scheme}://${authority}${c.path}` }) };
  return { uri } as unknown as Pick<vscodeApi.WorkspaceFolder, 'uri'>;
}

test('a remote or virtual folder: program and vm become URIs; relative paths, URIs and other attributes stay', () => {
  const remote = folder('vscode-remote', '127.0.0.1%3A8080');
  const out = withWorkspaceUris(remote, { type: 'hyperstep', name: 'x', request: 'launch', program: '/ws/guest.asm', vm: '/ws/vm.json', stopOnEntry: true });
  assert.deepEqual(out, { type: 'hyperstep', name: 'x', request: 'launch', program: 'vscode-remote://127.0.0.1%3A8080/ws/guest.asm', vm: 'vscode-remote://127.0.0.1%3A8080/ws/vm.json', stopOnEntry: true });
  assert.deepEqual(withWorkspaceUris(remote, { program: 'guest.asm', vm: { vcpus: 2 } }), { program: 'guest.asm', vm: { vcpus: 2 } });
  assert.deepEqual(withWorkspaceUris(remote, { program: 'vscode-vfs://github/o/r/guest.asm' }), { program: 'vscode-vfs://github/o/r/guest.asm' });
  assert.deepEqual(withWorkspaceUris(remote, { program: '//server/share/g.asm' }), { program: '//server/share/g.asm' });
});

test('a folder on disk, or none: the configuration is returned as it is', () => {
  const config = { program: '/home/me/guest.asm', vm: '/home/me/vm.json' };
  assert.equal(withWorkspaceUris(folder('file', ''), config), config);
  assert.equal(withWorkspaceUris(undefined, config), config);
});
