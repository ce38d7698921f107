// Guest console bytes to debug-console text. Guests write CR LF line ends
// (a serial terminal needs both); the debug console wants LF. Bytes arrive in
// slices, so a CR at the end of one slice waits to see whether LF follows,
// and a UTF-8 sequence split between slices is completed by the decoder.

export class ConsoleText {
  private readonly decoder = new TextDecoder('utf-8');
  private pendingCR = false;

  /** Text for these bytes; may hold back a final CR until the next call. */
  push(bytes: ArrayLike<number>): string {
    return this.normalize(this.decoder.decode(Uint8Array.from(bytes), { stream: true }), false);
  }

  /** Whatever is still held back, at the end of the output. */
  end(): string {
    return this.normalize(this.decoder.decode(), true);
  }

  private normalize(text: string, final: boolean): string {
    let s = (this.pendingCR ? '\r' : '') + text;
    this.pendingCR = false;
    if (!final && s.endsWith('\r')) {
      this.pendingCR = true;
      s = s.slice(0, -1);
    }
    // Drop NULs too: guests pad strings with them and they render as boxes.
    return s.replace(/\r\n/g, '\n').replace(/\0/g, '');
  }
}
