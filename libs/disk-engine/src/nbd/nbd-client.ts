/**
 * A small NBD client (fixed newstyle handshake, NBD_OPT_GO, simple replies) for the engine's
 * own reads and writes of live disks and for tests that need to know exactly which writes were
 * acknowledged. Requests may be in flight together; replies are matched by cookie.
 * See the NBD protocol document (github.com/NetworkBlockDevice/nbd, doc/proto.md).
 */
import { type Socket, createConnection } from 'node:net';

const NBDMAGIC = 0x4e42444d41474943n;
const IHAVEOPT = 0x49484156454f5054n;
const OPT_REPLY_MAGIC = 0x3e889045565a9n;
const REQUEST_MAGIC = 0x25609513;
const SIMPLE_REPLY_MAGIC = 0x67446698;

const FLAG_FIXED_NEWSTYLE = 1;
const FLAG_NO_ZEROES = 2;
const OPT_GO = 7;
const REP_ACK = 1;
const REP_INFO = 3;
const INFO_EXPORT = 0;
const TRANSMISSION_READ_ONLY = 2;

const CMD = { read: 0, write: 1, disconnect: 2, flush: 3, writeZeroes: 6 } as const;
const CMD_FLAG_FUA = 1;

/** errno values the protocol names (proto.md, "Error values"). */
const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM',
  5: 'EIO',
  12: 'ENOMEM',
  22: 'EINVAL',
  28: 'ENOSPC',
  75: 'EOVERFLOW',
  95: 'ENOTSUP',
  108: 'ESHUTDOWN',
};

export class NbdError extends Error {
  override readonly name = 'NbdError';
  constructor(
    message: string,
    readonly errno?: string,
  ) {
    super(message);
  }
}

export type NbdTarget = { socketPath: string } | { host: string; port: number };

interface Pending {
  readLength: number;
  resolve(data: Buffer): void;
  reject(error: Error): void;
}

/** Reads exactly what is asked from a socket, in arrival order. */
class ByteReader {
  private chunks: Buffer[] = [];
  private available = 0;
  private waiting?: { length: number; resolve(b: Buffer): void; reject(e: Error): void };
  private failure?: Error;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.available += chunk.length;
    this.serve();
  }

  fail(error: Error): void {
    this.failure = error;
    this.waiting?.reject(error);
    this.waiting = undefined;
  }

  read(length: number): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting = { length, resolve, reject };
      this.serve();
    });
  }

  private serve(): void {
    const w = this.waiting;
    if (!w || this.available < w.length) return;
    const all = Buffer.concat(this.chunks);
    this.chunks = [all.subarray(w.length)];
    this.available -= w.length;
    this.waiting = undefined;
    w.resolve(all.subarray(0, w.length));
  }
}

export class NbdClient {
  private readonly pending = new Map<bigint, Pending>();
  private nextCookie = 1n;
  private closed = false;

  private constructor(
    private readonly socket: Socket,
    private readonly reader: ByteReader,
    readonly sizeBytes: number,
    readonly readOnly: boolean,
  ) {}

  static async connect(target: NbdTarget, exportName: string): Promise<NbdClient> {
    const socket =
      'socketPath' in target
        ? createConnection(target.socketPath)
        : createConnection(target.port, target.host);
    const reader = new ByteReader();
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
    socket.on('error', (error) => reader.fail(error));
    socket.on('close', () => reader.fail(new NbdError('NBD connection closed')));
    socket.setNoDelay(true);
    try {
      const { sizeBytes, readOnly } = await handshake(socket, reader, exportName);
      const client = new NbdClient(socket, reader, sizeBytes, readOnly);
      void client.receiveReplies();
      return client;
    } catch (error) {
      socket.destroy();
      throw error;
    }
  }

  /** Large reads go as several requests (servers cap one request, QEMU at 32 MiB). */
  async read(offsetBytes: number, lengthBytes: number): Promise<Buffer> {
    const parts = chunks(offsetBytes, lengthBytes).map(([offset, length]) =>
      this.request(CMD.read, 0, offset, length, undefined, length),
    );
    return Buffer.concat(await Promise.all(parts));
  }

  /**
   * `data`: one buffer, or contiguous parts sent as they are (one request, never joined into a
   * copy). `fua`: the write is on stable storage when acknowledged.
   */
  async write(
    offsetBytes: number,
    data: Uint8Array | readonly Uint8Array[],
    options: { fua?: boolean } = {},
  ): Promise<void> {
    const flags = options.fua ? CMD_FLAG_FUA : 0;
    const parts = Array.isArray(data) ? (data as readonly Uint8Array[]) : [data as Uint8Array];
    const lengthBytes = parts.reduce((sum, part) => sum + part.length, 0);
    const requests = chunks(offsetBytes, lengthBytes).map(([offset, length]) =>
      this.request(
        CMD.write,
        flags,
        offset,
        length,
        partsRange(parts, offset - offsetBytes, length),
        0,
      ),
    );
    await Promise.all(requests);
  }

  async writeZeroes(offsetBytes: number, lengthBytes: number): Promise<void> {
    await this.request(CMD.writeZeroes, 0, offsetBytes, lengthBytes, undefined, 0);
  }

  /** Every write acknowledged before this is on stable storage when it resolves. */
  async flush(): Promise<void> {
    await this.request(CMD.flush, 0, 0, 0, undefined, 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const header = requestHeader(CMD.disconnect, 0, this.nextCookie++, 0, 0);
    await new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end(header);
    });
  }

  private request(
    type: number,
    flags: number,
    offset: number,
    length: number,
    payload: readonly Uint8Array[] | undefined,
    readLength: number,
  ): Promise<Buffer> {
    if (this.closed) return Promise.reject(new NbdError('NBD client is closed'));
    const cookie = this.nextCookie++;
    return new Promise((resolve, reject) => {
      this.pending.set(cookie, { readLength, resolve, reject });
      // Corked: the header and every part go to the kernel in one writev.
      this.socket.cork();
      this.socket.write(requestHeader(type, flags, cookie, offset, length));
      for (const part of payload ?? []) this.socket.write(part);
      this.socket.uncork();
    });
  }

  private async receiveReplies(): Promise<void> {
    try {
      for (;;) {
        const header = await this.reader.read(16);
        if (header.readUInt32BE(0) !== SIMPLE_REPLY_MAGIC)
          throw new NbdError('bad NBD reply magic');
        const error = header.readUInt32BE(4);
        const cookie = header.readBigUInt64BE(8);
        const pending = this.pending.get(cookie);
        if (!pending) throw new NbdError(`NBD reply for unknown cookie ${cookie}`);
        this.pending.delete(cookie);
        if (error !== 0) {
          const errno = ERRNO_NAMES[error] ?? `errno ${error}`;
          pending.reject(new NbdError(`NBD request failed: ${errno}`, errno));
          continue;
        }
        pending.resolve(
          pending.readLength > 0
            ? Buffer.from(await this.reader.read(pending.readLength))
            : Buffer.alloc(0),
        );
      }
    } catch (error) {
      const failure = error instanceof Error ? error : new NbdError(String(error));
      for (const [cookie, pending] of this.pending) {
        this.pending.delete(cookie);
        pending.reject(failure);
      }
      this.closed = true;
      this.socket.destroy();
    }
  }
}

const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

function chunks(offsetBytes: number, lengthBytes: number): Array<[number, number]> {
  const parts: Array<[number, number]> = [];
  for (let done = 0; done < lengthBytes || parts.length === 0; done += MAX_REQUEST_BYTES) {
    parts.push([offsetBytes + done, Math.min(MAX_REQUEST_BYTES, lengthBytes - done)]);
  }
  return parts;
}

/** The parts' bytes from `fromBytes`, `lengthBytes` long, as views of the parts. */
function partsRange(
  parts: readonly Uint8Array[],
  fromBytes: number,
  lengthBytes: number,
): Uint8Array[] {
  const out: Uint8Array[] = [];
  let skip = fromBytes;
  let left = lengthBytes;
  for (const part of parts) {
    if (left === 0) break;
    if (skip >= part.length) {
      skip -= part.length;
      continue;
    }
    const piece = part.subarray(skip, skip + left);
    out.push(piece);
    left -= piece.length;
    skip = 0;
  }
  return out;
}

function requestHeader(
  type: number,
  flags: number,
  cookie: bigint,
  offset: number,
  length: number,
): Buffer {
  const header = Buffer.alloc(28);
  header.writeUInt32BE(REQUEST_MAGIC, 0);
  header.writeUInt16BE(flags, 4);
  header.writeUInt16BE(type, 6);
  header.writeBigUInt64BE(cookie, 8);
  header.writeBigUInt64BE(BigInt(offset), 16);
  header.writeUInt32BE(length, 24);
  return header;
}

async function handshake(
  socket: Socket,
  reader: ByteReader,
  exportName: string,
): Promise<{ sizeBytes: number; readOnly: boolean }> {
  const greeting = await reader.read(18);
  if (greeting.readBigUInt64BE(0) !== NBDMAGIC || greeting.readBigUInt64BE(8) !== IHAVEOPT) {
    throw new NbdError('not a newstyle NBD server');
  }
  const serverFlags = greeting.readUInt16BE(16);
  if (!(serverFlags & FLAG_FIXED_NEWSTYLE)) throw new NbdError('NBD server is not fixed newstyle');
  const clientFlags = Buffer.alloc(4);
  clientFlags.writeUInt32BE(FLAG_FIXED_NEWSTYLE | (serverFlags & FLAG_NO_ZEROES));
  const name = Buffer.from(exportName, 'utf8');
  const data = Buffer.alloc(4 + name.length + 2);
  data.writeUInt32BE(name.length, 0);
  name.copy(data, 4);
  data.writeUInt16BE(0, 4 + name.length); // no extra info requests: NBD_INFO_EXPORT always comes
  const option = Buffer.alloc(16);
  option.writeBigUInt64BE(IHAVEOPT, 0);
  option.writeUInt32BE(OPT_GO, 8);
  option.writeUInt32BE(data.length, 12);
  socket.write(Buffer.concat([clientFlags, option, data]));
  let sizeBytes: number | undefined;
  let readOnly = false;
  for (;;) {
    const reply = await reader.read(20);
    if (reply.readBigUInt64BE(0) !== OPT_REPLY_MAGIC)
      throw new NbdError('bad NBD option reply magic');
    const type = reply.readUInt32BE(12);
    const body = await reader.read(reply.readUInt32BE(16));
    if (type === REP_ACK) break;
    if (type === REP_INFO && body.readUInt16BE(0) === INFO_EXPORT) {
      sizeBytes = Number(body.readBigUInt64BE(2));
      readOnly = (body.readUInt16BE(10) & TRANSMISSION_READ_ONLY) !== 0;
    } else if (type & 0x80000000) {
      throw new NbdError(
        `NBD server refused export ${exportName}: ${body.toString('utf8') || type}`,
      );
    }
  }
  if (sizeBytes === undefined) throw new NbdError('NBD server sent no export size');
  return { sizeBytes, readOnly };
}
