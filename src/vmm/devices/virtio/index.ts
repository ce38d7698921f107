// The virtio console and the split-virtqueue pieces it is built from (docs/vmm-virtio.md).
export { VirtioConsole, VIRTIO_CONSOLE_PORT, VIRTIO_CONSOLE_IRQ, VIRTIO_CONSOLE_QUEUE_SIZE, VIRTIO_CONSOLE_SPAN } from './console';
export type { VirtioConsoleOptions, VirtioConsoleState, VirtioQueueState, VirtioQueueInfo, VirtioStats } from './console';
export { SplitRing, NO_MEMORY } from './ring';
export type { GuestMemoryAccess, RingBuffer, Chain } from './ring';
export {
  VIRTIO_PCI, VIRTIO_STATUS, ISR_QUEUE, ISR_CONFIG, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE, VRING_DESC_F_INDIRECT,
  VRING_AVAIL_F_NO_INTERRUPT, QUEUE_ALIGN, DESC_SIZE, USED_ELEM_SIZE, ringLayout, VIRTIO_ID_CONSOLE,
  VIRTIO_CONSOLE_F_SIZE, VIRTIO_CONSOLE_F_MULTIPORT, VIRTIO_CONSOLE_F_EMERG_WRITE, CONSOLE_RECEIVEQ, CONSOLE_TRANSMITQ,
  CONSOLE_CONFIG, CONSOLE_CONFIG_SIZE,
} from './layout';
export type { RingLayout } from './layout';
