// The run-time switches in a harness image's stage-two header (see harness.asm).

export type Paging = 'off' | '4k' | '4m';

const FIRST_CASE_OFFSET = 0x204;
const FLAGS_OFFSET = 0x208;
const PAGING_FLAGS: Record<Paging, number> = { off: 0, '4k': 1, '4m': 3 };

/** A copy of the image that starts at case `firstCase` with the given paging mode. */
export function patchImage(image: Uint8Array, opts: { firstCase?: number; paging?: Paging }): Uint8Array {
  const img = image.slice();
  const view = new DataView(img.buffer);
  if (view.getUint32(0x200, true) !== 0x32425348) throw new Error('not a harness image (no stage-two magic)');
  view.setUint32(FIRST_CASE_OFFSET, opts.firstCase ?? 0, true);
  view.setUint32(FLAGS_OFFSET, PAGING_FLAGS[opts.paging ?? 'off'], true);
  return img;
}
