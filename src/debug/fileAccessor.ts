// The session reads guest programs and their %include files through this
// interface instead of the file system, so the same session runs in the
// extension host (through vscode.workspace.fs), in the stand-alone adapter
// (through Node's fs), in a browser, and in tests (from memory).

export interface FileAccessor {
  /** The file's bytes; rejects when it cannot be read. */
  readFile(path: string): Promise<Uint8Array>;
}

/** A FileAccessor over an in-memory map of path to text or bytes. */
export function memoryFileAccessor(files: Record<string, string | Uint8Array>): FileAccessor {
  return {
    readFile(path: string): Promise<Uint8Array> {
      const content = files[path];
      if (content === undefined) return Promise.reject(new Error(`ENOENT: no such file '${path}'`));
      return Promise.resolve(typeof content === 'string' ? new TextEncoder().encode(content) : content);
    },
  };
}
