// How a guest image is put on a fresh machine: the three start states and the
// rules that make a bad combination an error with a reason, shared by every
// front end (the command line, the debug session) so they cannot disagree.
import type { Machine } from './machine';

export type StartMode = 'real' | 'flat32' | 'rom';

/** Where a PC BIOS loads a boot sector. */
export const BOOT_SECTOR_ADDRESS = 0x7c00;
/** A boot image may fill conventional memory from 0x7C00 up to the EBDA at 0x9FC00. */
export const MAX_BOOT_IMAGE = 0x9fc00 - BOOT_SECTOR_ADDRESS;
/** flat32 images with no `org` and none given load at 1 MiB, like a multiboot kernel. */
export const DEFAULT_FLAT32_ORG = 0x100000;

export interface GuestImage {
  /** Shown in messages: usually the program's path. */
  name: string;
  bytes: Uint8Array;
  /** The `org` of an assembled source (0 when it has none); undefined for raw binaries. */
  origin?: number;
}

/** How the front end spells its settings, so messages name what the user typed. */
export interface SettingNames {
  mode: string;
  flat32: string;
  org: string;
}

export class LoadError extends Error {
  /** The setting at fault: 'program' for the image itself. */
  constructor(message: string, readonly setting: 'program' | 'mode' | 'org') {
    super(message);
  }
}

const hex = (n: number): string => '0x' + n.toString(16).toUpperCase();

/** Loads the image as `mode` says and returns its load address; throws LoadError for an impossible combination. */
export function loadGuest(machine: Machine, image: GuestImage, mode: StartMode, org: number | undefined, names: SettingNames): number {
  const size = image.bytes.length;
  if (size === 0) throw new LoadError(`${image.name}: the image is empty`, 'program');
  switch (mode) {
    case 'real':
      if (org !== undefined) throw new LoadError(`${names.org} applies to flat32 mode only: a boot sector always loads at 0x7C00`, 'org');
      if (size > MAX_BOOT_IMAGE)
        throw new LoadError(`${image.name}: ${size} bytes is too large for a boot image at 0x7C00 (at most ${MAX_BOOT_IMAGE} bytes)`, 'program');
      if (image.origin !== undefined && image.origin !== 0 && image.origin !== BOOT_SECTOR_ADDRESS)
        throw new LoadError(
          `${image.name}: the source says 'org ${hex(image.origin)}', but a boot sector is loaded at 0x7C00 (use ${names.flat32} to load it at its org)`,
          'mode',
        );
      machine.loadBootSector(image.bytes);
      return BOOT_SECTOR_ADDRESS;
    case 'flat32': {
      // A source's labels are absolute from its org, so it loads there; a
      // source without one (org 0) may be placed anywhere by the user.
      if (org !== undefined && image.origin !== undefined && image.origin !== 0 && image.origin !== org)
        throw new LoadError(`${image.name}: ${names.org} ${hex(org)} differs from the source's 'org ${hex(image.origin)}'`, 'org');
      const at = org ?? image.origin ?? DEFAULT_FLAT32_ORG;
      if (at < 0 || at + size > 0x1_0000_0000)
        throw new LoadError(`${image.name}: ${size} bytes at ${hex(at)} do not fit below 4 GiB`, 'org');
      machine.loadFlat32(image.bytes, at);
      return at;
    }
    case 'rom':
      if (org !== undefined) throw new LoadError(`${names.org} applies to flat32 mode only: a ROM is mapped below 4 GiB`, 'org');
      if (size !== 0x10000 && size !== 0x20000)
        throw new LoadError(`${image.name}: a ROM image must be exactly 64 KiB or 128 KiB (got ${size} bytes); pad it with 'times' to the full size`, 'program');
      machine.loadRom(image.bytes);
      return 0x1_0000_0000 - size;
  }
}
