import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { DomainError } from '@dolly/domain';
import { MAX_HEAD_BYTES, readUploadHead } from './upload-head';

const BOUNDARY = '----dolly-test-boundary';
const CONTENT_TYPE = `multipart/form-data; boundary=${BOUNDARY}`;
const CHUNK = 64 * 1024;

const field = (name: string, value: string) =>
  Buffer.from(
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
  );
const file = (filename: string, content: Buffer) =>
  Buffer.concat([
    Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="package"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    ),
    content,
    Buffer.from('\r\n'),
  ]);
const end = Buffer.from(`--${BOUNDARY}--\r\n`);

const DESCRIPTOR = Buffer.from('<?xml version="1.0"?><Envelope/>');
const SPEC = { hostId: 'h', datastoreId: 'd', name: 'web' };

/** A client sending the body in chunks; counts what the API pulled from it. */
function client(body: Buffer) {
  const pulled = { bytes: 0 };
  const stream = Readable.from(
    (function* () {
      for (let offset = 0; offset < body.length; offset += CHUNK) {
        const chunk = body.subarray(offset, offset + CHUNK);
        pulled.bytes += chunk.length;
        yield chunk;
      }
    })(),
    { objectMode: false },
  );
  return { stream, pulled };
}

async function collect(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function refusal(body: Buffer): Promise<string[]> {
  try {
    await readUploadHead(client(body).stream, CONTENT_TYPE);
  } catch (error) {
    if (error instanceof DomainError) return error.reasons.map((r) => r.code);
    throw error;
  }
  throw new Error('the upload was not refused');
}

describe('the start of an upload', () => {
  it('reads the spec and the .ovf, leaves a large disk unread, and hands on the body byte for byte', async () => {
    const disk = Buffer.alloc(32 * 1024 * 1024, 7);
    const body = Buffer.concat([
      field('spec', JSON.stringify(SPEC)),
      file('web.ovf', DESCRIPTOR),
      file('web-disk1.vmdk', disk),
      end,
    ]);
    const { stream, pulled } = client(body);
    const head = await readUploadHead(stream, CONTENT_TYPE);
    expect(head.spec).toEqual(SPEC);
    expect(head.descriptor).toEqual({
      packageName: 'web.ovf',
      descriptorName: 'web.ovf',
      xml: DESCRIPTOR,
      sha256: createHash('sha256').update(DESCRIPTOR).digest('hex'),
    });
    // Bounded: the disk was not read to find the descriptor.
    expect(pulled.bytes).toBeLessThanOrEqual(MAX_HEAD_BYTES);
    expect(pulled.bytes).toBeLessThan(disk.length);
    expect((await collect(head.body)).equals(body)).toBe(true);
  });

  it('refuses a package sent before its spec', async () => {
    expect(
      await refusal(Buffer.concat([file('web.ovf', DESCRIPTOR), field('spec', '{}'), end])),
    ).toEqual(['IMPORT.SPEC_NOT_FIRST']);
  });

  it('refuses a spec that is not JSON, and fields besides it', async () => {
    expect(await refusal(Buffer.concat([field('spec', '{nope'), end]))).toEqual([
      'REQUEST.MALFORMED_JSON',
    ]);
    expect(await refusal(Buffer.concat([field('name', 'web'), end]))).toEqual([
      'IMPORT.UPLOAD_MALFORMED',
    ]);
  });

  it('refuses a first file that is no package, and an upload with none', async () => {
    expect(
      await refusal(Buffer.concat([field('spec', '{}'), file('disk.vmdk', Buffer.alloc(10)), end])),
    ).toEqual(['IMPORT.NOT_A_PACKAGE']);
    expect(await refusal(Buffer.concat([field('spec', '{}'), end]))).toEqual(['IMPORT.NO_PACKAGE']);
  });

  it('refuses a descriptor past 4 MiB without reading on', async () => {
    const huge = Buffer.alloc(5 * 1024 * 1024, 0x20);
    const body = Buffer.concat([
      field('spec', '{}'),
      file('web.ovf', huge),
      file('disk.vmdk', Buffer.alloc(64 * 1024 * 1024)),
      end,
    ]);
    const { stream, pulled } = client(body);
    await expect(readUploadHead(stream, CONTENT_TYPE)).rejects.toMatchObject({
      reasons: [expect.objectContaining({ code: 'OVF.DESCRIPTOR_TOO_LARGE' })],
    });
    expect(pulled.bytes).toBeLessThanOrEqual(MAX_HEAD_BYTES + CHUNK);
  });

  it('refuses a body that is not multipart', async () => {
    await expect(
      readUploadHead(client(Buffer.from('garbage')).stream, 'multipart/form-data'),
    ).rejects.toBeInstanceOf(Error);
  });
});

/** A USTAR archive made in memory (tar-stream, as the package reader's own specs do). */
async function tarOf(
  members: { name: string; content: Buffer; linkTo?: string }[],
): Promise<Buffer> {
  const { pack: tarPack } = await import('tar-stream');
  const archive = tarPack();
  const done = collect(archive as unknown as AsyncIterable<Buffer>);
  for (const member of members)
    if (member.linkTo)
      archive.entry({ name: member.name, type: 'symlink', linkname: member.linkTo });
    else archive.entry({ name: member.name }, member.content);
  archive.finalize();
  return done;
}

describe('the start of an OVA upload', () => {
  it('reads the descriptor, the first member, and leaves the disks unread', async () => {
    const disk = Buffer.alloc(24 * 1024 * 1024, 3);
    const ova = await tarOf([
      { name: 'app.ovf', content: DESCRIPTOR },
      { name: 'app-disk1.vmdk', content: disk },
    ]);
    const body = Buffer.concat([field('spec', JSON.stringify(SPEC)), file('app.ova', ova), end]);
    const { stream, pulled } = client(body);
    const head = await readUploadHead(stream, CONTENT_TYPE);
    expect(head.descriptor).toEqual({
      packageName: 'app.ova',
      descriptorName: 'app.ovf',
      xml: DESCRIPTOR,
      sha256: createHash('sha256').update(DESCRIPTOR).digest('hex'),
    });
    expect(pulled.bytes).toBeLessThanOrEqual(MAX_HEAD_BYTES);
    expect((await collect(head.body)).equals(body)).toBe(true);
  });

  it('refuses an OVA whose first member is not the descriptor', async () => {
    const ova = await tarOf([
      { name: 'app-disk1.vmdk', content: Buffer.alloc(4096) },
      { name: 'app.ovf', content: DESCRIPTOR },
    ]);
    expect(
      await refusal(
        Buffer.concat([field('spec', JSON.stringify(SPEC)), file('app.ova', ova), end]),
      ),
    ).toEqual(['PACKAGE.DESCRIPTOR_NOT_FIRST']);
  });

  // The reader admits no such member: the descriptor is then missing from the front, and the
  // member's own reason is said with it, though the archive's end is not read here.
  it('refuses an OVA whose first member climbs out of the package, saying both why', async () => {
    const ova = await tarOf([
      { name: '../app.ovf', content: DESCRIPTOR },
      { name: 'app-disk1.vmdk', content: Buffer.alloc(4096) },
    ]);
    const codes = await refusal(
      Buffer.concat([field('spec', JSON.stringify(SPEC)), file('app.ova', ova), end]),
    );
    expect(codes).toEqual(['PACKAGE.PATH_TRAVERSAL', 'PACKAGE.DESCRIPTOR_NOT_FIRST']);
  });

  it('refuses an OVA that starts with a symlink named like a descriptor, saying both why', async () => {
    const ova = await tarOf([
      { name: 'app.ovf', content: Buffer.alloc(0), linkTo: '/etc/passwd' },
      { name: 'app-disk1.vmdk', content: Buffer.alloc(4096) },
    ]);
    const codes = await refusal(
      Buffer.concat([field('spec', JSON.stringify(SPEC)), file('app.ova', ova), end]),
    );
    expect(codes).toEqual(['OVA.NOT_REGULAR_FILE', 'PACKAGE.DESCRIPTOR_NOT_FIRST']);
  });
});
