export { sniffDiskFormat } from './disk-format';
export { DiskReasonCode } from './disk-reasons';
export { type WriteDiskContentOptions, writeDiskContent } from './write-disk-content';
