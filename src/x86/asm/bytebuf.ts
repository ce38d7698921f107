/** Growable byte buffer. */
export class ByteBuffer {
  private buf = new Uint8Array(256);
  length = 0;

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.buf.subarray(0, this.length));
    this.buf = nb;
  }

  push(bytes: ArrayLike<number>): void {
    this.ensure(bytes.length);
    for (let i = 0; i < bytes.length; i++) this.buf[this.length + i] = bytes[i];
    this.length += bytes.length;
  }

  fill(value: number, count: number): void {
    this.ensure(count);
    this.buf.fill(value, this.length, this.length + count);
    this.length += count;
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}
