/**
 * Reads a disk file's content (chunks of any size, as the archive or upload delivers them) as
 * exact byte counts. Holds at most what one `read` asks for plus one incoming chunk, so memory is
 * bounded by the largest structure a decoder reads, never by the file.
 */
export class ContentReader {
  private readonly iterator: AsyncIterator<Buffer>;
  /** Chunks held; those before `firstChunk` are consumed (dropped in batches, so tiny chunks cost O(1) each). */
  private chunks: Buffer[] = [];
  private firstChunk = 0;
  /** Bytes of the first chunk already consumed. */
  private headOffset = 0;
  private bufferedBytes = 0;
  private ended = false;
  /** Where readTransient gathers bytes that straddle chunks: as large as its largest read. */
  private scratch = Buffer.alloc(0);
  /** Bytes consumed from the start of the content. */
  positionBytes = 0;

  constructor(
    content: AsyncIterable<Buffer>,
    private readonly signal?: AbortSignal,
  ) {
    this.iterator = content[Symbol.asyncIterator]();
  }

  /** Bytes held now (available without waiting for the source). */
  get buffered(): number {
    return this.bufferedBytes;
  }

  /** Holds the next `count` bytes (fewer when the content is shorter) without consuming them. */
  async fillHead(count: number): Promise<void> {
    await this.fill(count);
  }

  /** The next `count` bytes held (fewer when fewer are), not consumed: call fillHead first. */
  peek(count: number): Buffer {
    const length = Math.min(count, this.bufferedBytes);
    const first = this.chunks[this.firstChunk];
    if (first !== undefined && first.length - this.headOffset >= length)
      return first.subarray(this.headOffset, this.headOffset + length);
    const out = Buffer.allocUnsafe(length);
    let filled = 0;
    for (let index = this.firstChunk; filled < length; index++) {
      const chunk = this.chunks[index];
      const from = index === this.firstChunk ? this.headOffset : 0;
      filled += chunk.copy(out, filled, from, Math.min(chunk.length, from + length - filled));
    }
    return out;
  }

  /** Exactly `count` bytes, or null when the content ends first (what remained is then consumed). */
  async read(count: number): Promise<Buffer | null> {
    if (!(await this.fill(count))) {
      this.consume(this.bufferedBytes);
      return null;
    }
    return this.take(count);
  }

  /**
   * Exactly `count` bytes, or null when the content ends first, valid only until the reader's
   * next read of bytes (skipping leaves them be): for bytes used at once and dropped (a compressed
   * grain, inflated then and there). Bytes that straddle source chunks are gathered in one buffer
   * the reader keeps, not in fresh memory per read (a 1 GiB import's grains made 130 MiB of such
   * copies, each page touched anew).
   */
  async readTransient(count: number): Promise<Buffer | null> {
    if (!(await this.fill(count))) {
      this.consume(this.bufferedBytes);
      return null;
    }
    if (this.scratch.length < count) this.scratch = Buffer.allocUnsafeSlow(count);
    return this.take(count, this.scratch);
  }

  /** Up to `maxCount` bytes (at least one), or null at the end: for content passed on as it comes. */
  async readSome(maxCount: number): Promise<Buffer | null> {
    if (!(await this.fill(1))) return null;
    return this.take(Math.min(maxCount, this.bufferedBytes));
  }

  /** Consumes `count` bytes without holding them; the number actually skipped (less at the end). */
  async skip(count: number): Promise<number> {
    let left = count;
    while (left > 0) {
      if (this.bufferedBytes === 0 && !(await this.fill(1))) break;
      const step = Math.min(left, this.bufferedBytes);
      this.consume(step);
      left -= step;
    }
    return count - left;
  }

  /** Consumes the rest; how many bytes there were and whether any of them was not zero. */
  async drain(): Promise<{ bytes: number; nonZeroAtBytes: number | null }> {
    let bytes = 0;
    let nonZeroAtBytes: number | null = null;
    for (;;) {
      const start = this.positionBytes;
      const piece = await this.readSome(1 << 20);
      if (piece === null) return { bytes, nonZeroAtBytes };
      bytes += piece.length;
      if (nonZeroAtBytes === null) {
        const index = firstNonZero(piece);
        if (index >= 0) nonZeroAtBytes = start + index;
      }
    }
  }

  /**
   * What is held now, then the rest of the source as it comes: for handing the content on. Tiny
   * source chunks are gathered to 64 KiB, so whoever writes them is not called per byte.
   */
  async *remaining(): AsyncGenerator<Buffer> {
    for (;;) {
      await this.fill(REMAINING_BATCH_BYTES);
      if (this.bufferedBytes === 0) return;
      yield this.take(this.bufferedBytes);
    }
  }

  private async fill(count: number): Promise<boolean> {
    while (this.bufferedBytes < count) {
      if (this.ended) return false;
      this.signal?.throwIfAborted();
      const next = await this.iterator.next();
      if (next.done) {
        this.ended = true;
        return false;
      }
      const chunk = asBuffer(next.value);
      if (chunk.length === 0) continue;
      this.chunks.push(chunk);
      this.bufferedBytes += chunk.length;
    }
    return true;
  }

  /**
   * `count` ≤ bufferedBytes; a view of the source chunk when it holds them all, else a copy (in
   * `into` when given).
   */
  private take(count: number, into?: Buffer): Buffer {
    const first = this.chunks[this.firstChunk];
    if (first.length - this.headOffset >= count) {
      const view = first.subarray(this.headOffset, this.headOffset + count);
      this.consume(count);
      return view;
    }
    const out = into ? into.subarray(0, count) : Buffer.allocUnsafe(count);
    let filled = 0;
    while (filled < count) {
      const chunk = this.chunks[this.firstChunk];
      const step = Math.min(count - filled, chunk.length - this.headOffset);
      chunk.copy(out, filled, this.headOffset, this.headOffset + step);
      filled += step;
      this.consume(step);
    }
    return out;
  }

  private consume(count: number): void {
    let left = count;
    this.bufferedBytes -= count;
    this.positionBytes += count;
    while (left > 0) {
      const room = this.chunks[this.firstChunk].length - this.headOffset;
      if (left < room) {
        this.headOffset += left;
        break;
      }
      left -= room;
      this.firstChunk++;
      this.headOffset = 0;
    }
    if (this.firstChunk >= 1024 || this.firstChunk === this.chunks.length) {
      this.chunks = this.chunks.slice(this.firstChunk);
      this.firstChunk = 0;
    }
  }
}

function asBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
  throw new TypeError('disk content must be a stream of bytes (Buffer chunks)');
}

const REMAINING_BATCH_BYTES = 64 << 10;

/** One shared MiB of zeros to compare against: `equals` is a memcmp, far faster than a loop. */
const ZEROS = Buffer.alloc(1 << 20);

export function isAllZero(data: Buffer): boolean {
  for (let start = 0; start < data.length; start += ZEROS.length) {
    const piece = data.subarray(start, start + ZEROS.length);
    if (!piece.equals(ZEROS.subarray(0, piece.length))) return false;
  }
  return true;
}

function firstNonZero(data: Buffer): number {
  if (isAllZero(data)) return -1;
  return data.findIndex((byte) => byte !== 0);
}
