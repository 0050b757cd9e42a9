import { type PackageReason, PackageRefused } from '../model';

/** Why a disk file's content is refused; the detail names the offset and the value found. */
export const DiskReasonCode = {
  /** The content is another image format than the descriptor declares (a qcow2 called streamOptimized). */
  FORMAT_MISMATCH: 'DISK.FORMAT_MISMATCH',
  /** A VMDK whose header, embedded descriptor or markers break the VMware Virtual Disk Format 1.1. */
  BAD_VMDK: 'DISK.BAD_VMDK',
  /** A qcow2 whose header is not one qemu-img may safely open. */
  BAD_QCOW2: 'DISK.BAD_QCOW2',
  /** The image's own capacity (or a raw file's length) differs from the descriptor's ovf:capacity. */
  CAPACITY_MISMATCH: 'DISK.CAPACITY_MISMATCH',
  /** The content ends inside a structure, or before a streamOptimized VMDK's end-of-stream marker. */
  TRUNCATED: 'DISK.TRUNCATED',
  /** Bytes other than zero padding after the end-of-stream marker. */
  TRAILING_DATA: 'DISK.TRAILING_DATA',
  /** A grain outside the disk, not on a grain boundary, or not after the previous grain. */
  GRAIN_OUT_OF_RANGE: 'DISK.GRAIN_OUT_OF_RANGE',
  /** A grain whose compressed data does not inflate, or inflates to fewer bytes than a grain. */
  GRAIN_CORRUPT: 'DISK.GRAIN_CORRUPT',
  /** A grain larger than a grain can be, compressed or inflated (a zip bomb stops here). */
  GRAIN_TOO_LARGE: 'DISK.GRAIN_TOO_LARGE',
  /** The image names a parent or backing file: opening it would read a file outside the package. */
  HAS_PARENT: 'DISK.HAS_PARENT',
  /** An encrypted image: Dolly cannot read its content. */
  ENCRYPTED: 'DISK.ENCRYPTED',
} as const;
export type DiskReasonCode = (typeof DiskReasonCode)[keyof typeof DiskReasonCode];

/** Past this many reasons one disk's list stops growing: a hostile file could otherwise make millions. */
const MAX_REASONS_PER_DISK = 50;

/**
 * Collects a disk's reasons while its content is read: a reason that leaves the structure
 * readable is recorded and reading goes on (so every reason is said at once); one that does not
 * ends it through `fatal`.
 */
export class DiskRefusals {
  private readonly reasons: PackageReason[] = [];
  private omitted = 0;

  constructor(private readonly fileName: string | undefined) {}

  get any(): boolean {
    return this.reasons.length > 0;
  }

  get full(): boolean {
    return this.reasons.length >= MAX_REASONS_PER_DISK;
  }

  add(code: DiskReasonCode, detail: string, offsetBytes?: number): void {
    if (this.full) {
      this.omitted++;
      return;
    }
    const where = offsetBytes === undefined ? undefined : `byte ${offsetBytes}`;
    const at = [this.fileName, where].filter((part) => part !== undefined).join(', ');
    this.reasons.push({ code, detail, ...(at ? { at } : {}) });
  }

  /** Records a reason that makes the rest unreadable, and refuses with everything so far. */
  fatal(code: DiskReasonCode, detail: string, offsetBytes?: number): never {
    this.add(code, detail, offsetBytes);
    throw this.refusal();
  }

  throwIfAny(): void {
    if (this.any) throw this.refusal();
  }

  private refusal(): PackageRefused {
    const reasons = [...this.reasons];
    if (this.omitted > 0) {
      const last = reasons[reasons.length - 1];
      reasons.push({
        code: last.code,
        detail: `${this.omitted} more reasons of this disk not listed`,
        ...(this.fileName ? { at: this.fileName } : {}),
      });
    }
    return new PackageRefused(reasons);
  }
}
