import type { PackageReason } from '../model';

const BLOCK_BYTES = 512;
const MAGIC_OFFSET = 257;
const USTAR_MAGIC_AND_VERSION = Buffer.from('ustar\u000000', 'latin1');
/** USTAR's own type flags: regular file ('0' and the old NUL), link, symlink, devices, directory, FIFO, contiguous. */
const USTAR_TYPE_FLAGS = new Set(['0', '\u0000', '1', '2', '3', '4', '5', '6', '7']);
const EXTENSION_NAMES: Record<string, string> = {
  x: 'a pax extended header',
  g: 'a pax global header',
  L: 'a GNU long name',
  K: 'a GNU long link name',
  S: 'a GNU sparse file',
  M: 'a GNU multi-volume part',
  V: 'a GNU volume label',
  D: 'a GNU directory dump',
};

/**
 * Walks the raw header blocks of a tar as its bytes pass, beside tar-stream: tar-stream reads
 * GNU and pax archives too and applies their long names and pax `path` silently (its Header
 * keeps no magic and no trace of the extension headers), so the format is checked here, on the
 * bytes. Holds at most one block.
 */
export class UstarFormatCheck {
  readonly reasons: PackageReason[] = [];
  /** Offset of the next header block in the archive. */
  private nextHeaderAt = 0;
  private position = 0;
  private readonly block = Buffer.alloc(BLOCK_BYTES);
  private blockFill = 0;
  private endMarkerSeen = false;
  /** Set when a header cannot be walked (tar-stream then fails on it too). */
  private lost = false;

  inspect(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length && !this.lost) {
      if (this.position < this.nextHeaderAt) {
        const skip = Math.min(chunk.length - offset, this.nextHeaderAt - this.position);
        offset += skip;
        this.position += skip;
        continue;
      }
      const take = Math.min(chunk.length - offset, BLOCK_BYTES - this.blockFill);
      chunk.copy(this.block, this.blockFill, offset, offset + take);
      this.blockFill += take;
      offset += take;
      this.position += take;
      if (this.blockFill === BLOCK_BYTES) {
        this.blockFill = 0;
        this.nextHeaderAt = this.position + this.checkHeader(this.position - BLOCK_BYTES);
      }
    }
  }

  /** The input ended: an archive that stops before its end-of-archive blocks was cut short. */
  end(): void {
    if (!this.endMarkerSeen && !this.lost)
      this.reasons.push({
        code: 'OVA.TRUNCATED',
        detail: `the archive ends at byte ${this.position} without its end-of-archive blocks`,
      });
  }

  /** Checks one header block; returns the bytes of data that follow it. */
  private checkHeader(offset: number): number {
    if (this.block.every((byte) => byte === 0)) {
      this.endMarkerSeen = true;
      return 0;
    }
    const nameEnd = this.block.subarray(0, 100).indexOf(0);
    const name = this.block.toString('utf8', 0, nameEnd === -1 ? 100 : nameEnd);
    const at = name || `byte ${offset}`;
    if (this.endMarkerSeen) {
      // GNU tar stops at the end marker, tar-stream reads on: members hidden after it would be
      // seen by some tools and not others.
      this.reasons.push({
        code: 'OVA.DATA_AFTER_END',
        detail: `a header at byte ${offset} follows the end-of-archive block`,
        at,
      });
      this.lost = true;
      return 0;
    }
    const typeFlag = String.fromCharCode(this.block[156]);
    if (!this.block.subarray(MAGIC_OFFSET, MAGIC_OFFSET + 8).equals(USTAR_MAGIC_AND_VERSION)) {
      const magic = this.block.toString('latin1', MAGIC_OFFSET, MAGIC_OFFSET + 8);
      const format =
        magic === 'ustar  \u0000'
          ? 'GNU tar'
          : magic.startsWith('ustar')
            ? 'an unknown ustar variant'
            : 'pre-POSIX tar';
      this.reasons.push({
        code: 'OVA.NOT_USTAR',
        detail: `member header at byte ${offset} is ${format}, not USTAR`,
        at,
      });
    } else if (!USTAR_TYPE_FLAGS.has(typeFlag)) {
      const what = EXTENSION_NAMES[typeFlag] ?? `type flag ${JSON.stringify(typeFlag)}`;
      this.reasons.push({
        code: 'OVA.NOT_USTAR',
        detail: `header at byte ${offset} is ${what}, not USTAR`,
        at,
      });
    }
    const sizeField = this.block.subarray(124, 136);
    if ((sizeField[0] & 0x80) !== 0) {
      this.reasons.push({
        code: 'OVA.NOT_USTAR',
        detail: `header at byte ${offset} has a base-256 size (a GNU extension)`,
        at,
      });
      this.lost = true;
      return 0;
    }
    // Octal digits, padded with spaces or ended by NULs.
    const sizeText = sizeField.toString('latin1').split('\u0000')[0].trim();
    if (!/^[0-7]*$/.test(sizeText)) {
      this.lost = true; // tar-stream refuses the header too (its checksum or size).
      return 0;
    }
    const dataBytes = sizeText === '' ? 0 : parseInt(sizeText, 8);
    return Math.ceil(dataBytes / BLOCK_BYTES) * BLOCK_BYTES;
  }
}
