// Numbers of the legacy virtio interface. Section numbers refer to the
// virtio 1.1 specification: the legacy PCI register block is 4.1.4.8, the
// split-ring layout 2.6.2 (legacy alignment) and 2.6.5-2.6.8, the device
// status bits 2.1, the console device 5.3.

/** Offsets in the legacy register block (4.1.4.8, without MSI-X). */
export const VIRTIO_PCI = {
  DEVICE_FEATURES: 0x00,
  GUEST_FEATURES: 0x04,
  QUEUE_PFN: 0x08,
  QUEUE_SIZE: 0x0c,
  QUEUE_SELECT: 0x0e,
  QUEUE_NOTIFY: 0x10,
  STATUS: 0x12,
  ISR: 0x13,
  /** Device-specific configuration starts here when MSI-X is off. */
  CONFIG: 0x14,
} as const;

/** Device status bits (2.1). Legacy drivers never write FEATURES_OK. */
export const VIRTIO_STATUS = {
  ACKNOWLEDGE: 0x01,
  DRIVER: 0x02,
  DRIVER_OK: 0x04,
  FEATURES_OK: 0x08,
  NEEDS_RESET: 0x40,
  FAILED: 0x80,
} as const;

/** ISR status bits (4.1.4.5): bit 0 a queue interrupt, bit 1 a configuration change. */
export const ISR_QUEUE = 0x01;
export const ISR_CONFIG = 0x02;

/** Descriptor flags (2.6.5). */
export const VRING_DESC_F_NEXT = 1;
export const VRING_DESC_F_WRITE = 2;
export const VRING_DESC_F_INDIRECT = 4;
/** Available-ring flag (2.6.7): the driver does not want an interrupt for used buffers. */
export const VRING_AVAIL_F_NO_INTERRUPT = 1;

/** Legacy queues are aligned to 4 KiB pages and addressed by page frame number (2.6.2). */
export const QUEUE_ALIGN = 4096;
export const DESC_SIZE = 16;
export const USED_ELEM_SIZE = 8;

/** Guest-physical addresses of the three parts of a split virtqueue. */
export interface RingLayout {
  desc: number;
  /** flags u16, idx u16, ring[size] u16, used_event u16. */
  avail: number;
  /** flags u16, idx u16, ring[size] {id u32, len u32}, avail_event u16; aligned to QUEUE_ALIGN. */
  used: number;
  /** First byte after the used ring. */
  end: number;
}

export function ringLayout(pfn: number, size: number): RingLayout {
  const desc = pfn * QUEUE_ALIGN;
  const avail = desc + DESC_SIZE * size;
  const used = Math.ceil((avail + 6 + 2 * size) / QUEUE_ALIGN) * QUEUE_ALIGN;
  return { desc, avail, used, end: used + 6 + USED_ELEM_SIZE * size };
}

/** Virtio device IDs (5). */
export const VIRTIO_ID_CONSOLE = 3;

/** Console feature bits (5.3.3). */
export const VIRTIO_CONSOLE_F_SIZE = 1 << 0;
export const VIRTIO_CONSOLE_F_MULTIPORT = 1 << 1;
export const VIRTIO_CONSOLE_F_EMERG_WRITE = 1 << 2;

/** Console queue indices without MULTIPORT (5.3.2). */
export const CONSOLE_RECEIVEQ = 0;
export const CONSOLE_TRANSMITQ = 1;

/** Console configuration (5.3.4), at VIRTIO_PCI.CONFIG. */
export const CONSOLE_CONFIG = { COLS: 0x00, ROWS: 0x02, MAX_NR_PORTS: 0x04, EMERG_WR: 0x08 } as const;
export const CONSOLE_CONFIG_SIZE = 12;
