import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { PackageRefused } from '@dolly/ovf';
import { pack } from 'tar-stream';
import { uploadParts, uploadedMembers } from './uploaded-members';

const BOUNDARY = 'dolly-spec';

type Part = { field: string; value: string } | { file: string; content: Buffer };

/** A request whose body is these parts as multipart/form-data, in this order. */
function upload(parts: Part[], contentType = `multipart/form-data; boundary=${BOUNDARY}`) {
  const body = new PassThrough() as PassThrough & Partial<IncomingMessage>;
  body.headers = { 'content-type': contentType };
  body.complete = true;
  const chunks = parts.map((part) =>
    'field' in part
      ? Buffer.from(
          `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${part.field}"\r\n\r\n${part.value}\r\n`,
        )
      : Buffer.concat([
          Buffer.from(
            `--${BOUNDARY}\r\nContent-Disposition: form-data; name="package"; filename="${part.file}"\r\n\r\n`,
          ),
          part.content,
          Buffer.from('\r\n'),
        ]),
  );
  body.end(Buffer.concat([...chunks, Buffer.from(`--${BOUNDARY}--\r\n`)]));
  return body as unknown as IncomingMessage;
}

/** A one-member USTAR archive. */
async function ova(name: string, content: string): Promise<Buffer> {
  const archive = pack();
  archive.entry({ name }, content);
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Every member's name and content, or the codes of the refusal the members end with. */
async function read(request: IncomingMessage) {
  const members: Record<string, string> = {};
  try {
    for await (const member of uploadedMembers(uploadParts(request))) {
      const chunks: Buffer[] = [];
      for await (const chunk of member.content) chunks.push(chunk);
      members[member.name] = Buffer.concat(chunks).toString('utf8');
    }
    return { members };
  } catch (error) {
    if (!(error instanceof PackageRefused)) throw error;
    return { members, refused: error.reasons.map((reason) => reason.code) };
  }
}

describe('an uploaded package', () => {
  it('is the members of its one OVA part, the spec field skipped', async () => {
    const request = upload([
      { field: 'spec', value: '{"name":"a"}' },
      { file: 'app.ova', content: await ova('app.ovf', '<Envelope/>') },
    ]);
    expect(await read(request)).toEqual({ members: { 'app.ovf': '<Envelope/>' } });
  });

  it('is an OVF and its files, part by part, in order', async () => {
    const request = upload([
      { field: 'spec', value: '{}' },
      { file: 'app.ovf', content: Buffer.from('<Envelope/>') },
      { file: 'app.mf', content: Buffer.from('SHA256(app.ovf)= 00') },
    ]);
    expect(await read(request)).toEqual({
      members: { 'app.ovf': '<Envelope/>', 'app.mf': 'SHA256(app.ovf)= 00' },
    });
  });

  it('refuses, with every reason, a stray field and a part after the OVA', async () => {
    const request = upload([
      { field: 'spec', value: '{}' },
      { field: 'callback', value: 'http://elsewhere' },
      { file: 'app.ova', content: await ova('app.ovf', '<Envelope/>') },
      { file: 'extra.vmdk', content: Buffer.from('more') },
    ]);
    const { refused } = await read(request);
    expect(refused?.sort()).toEqual(['UPLOAD.PART_AFTER_OVA', 'UPLOAD.UNEXPECTED_FIELD']);
  });

  it('refuses a first file that is no package, an upload with no file, and a body that is not multipart', async () => {
    expect(
      (await read(upload([{ file: 'notes.txt', content: Buffer.from('hello') }]))).refused,
    ).toEqual(['UPLOAD.UNKNOWN_PACKAGE']);
    expect((await read(upload([{ field: 'spec', value: '{}' }]))).refused).toEqual([
      'UPLOAD.NO_PACKAGE',
    ]);
    expect((await read(upload([], 'application/octet-stream'))).refused).toEqual([
      'UPLOAD.NOT_MULTIPART',
    ]);
  });

  it('refuses a part whose name climbs out of the package', async () => {
    const request = upload([
      { file: 'app.ovf', content: Buffer.from('<Envelope/>') },
      { file: '../../etc/passwd', content: Buffer.from('x') },
    ]);
    const { members, refused } = await read(request);
    expect(Object.keys(members)).toEqual(['app.ovf']);
    expect(refused).toContain('PACKAGE.PATH_TRAVERSAL');
  });
});
