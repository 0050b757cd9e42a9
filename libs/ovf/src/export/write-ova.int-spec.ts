import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import {
  appendFile,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  rm,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  GiB,
  MiB,
  compareImages,
  convert,
  makeSourceQcow2,
  run,
} from '../disk/testing/disk-fixtures';
import { writeDescriptor } from '../descriptor';
import { parseDescriptor } from '../descriptor/parse-descriptor';
import { chunkMemberName, ovaMembers, readPackage } from '../package';
import { type OvaParts, hashFile, writeOva } from '.';

let dir: string;
let source: string;
let parts: OvaParts;

const descriptor = `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"><References/></Envelope>
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dolly-ova-'));
  source = await makeSourceQcow2(dir);
  const small = join(dir, 'small.raw');
  await run('qemu-img', ['create', '-q', '-f', 'raw', small, String(16 * MiB)]);
  await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x61 1M 3M', small]);
  const disk1 = await convert(
    source,
    'qcow2',
    join(dir, 'app-disk1.vmdk'),
    'vmdk',
    'streamOptimized',
  );
  const disk2 = await convert(small, 'raw', join(dir, 'app-disk2.vmdk'), 'vmdk', 'streamOptimized');
  parts = {
    descriptorName: 'app.ovf',
    descriptor,
    files: [
      { name: 'app-disk1.vmdk', path: disk1, ...(await hashFile(disk1)) },
      { name: 'app-disk2.vmdk', path: disk2, ...(await hashFile(disk2)) },
    ],
  };
});

afterAll(() => rm(dir, { recursive: true, force: true }));

describe('writeOva', () => {
  it('writes a USTAR archive: descriptor, manifest, disks, that tar, sha256sum and qemu-img read', async () => {
    const ova = join(dir, 'app.ova');
    let progress = 0;
    await pipeline(writeOva(parts, { onBytes: (n) => (progress += n) }), createWriteStream(ova));
    expect(progress).toBe((await hashFile(ova)).sizeBytes);

    const listing = (await run('tar', ['-tvf', ova])).trim().split('\n');
    expect(listing.map((line) => line.split(/\s+/).pop())).toEqual([
      'app.ovf',
      'app.mf',
      'app-disk1.vmdk',
      'app-disk2.vmdk',
    ]);
    const formats = await run('python3', [
      '-c',
      [
        'import sys, tarfile',
        'with open(sys.argv[1], "rb") as f:',
        '    while True:',
        '        block = f.read(512)',
        '        if block == bytes(512): break',
        '        info = tarfile.TarInfo.frombuf(block, "utf-8", "strict")',
        '        print(block[257:263] == b"ustar\\x00" and block[263:265] == b"00", info.name, info.size)',
        '        f.seek((info.size + 511) // 512 * 512, 1)',
        't = tarfile.open(sys.argv[1], format=tarfile.USTAR_FORMAT)',
        'print(all(m.isreg() and not m.pax_headers for m in t.getmembers()))',
      ].join('\n'),
      ova,
    ]);
    expect(formats.trim().split('\n')).toEqual([
      expect.stringMatching(/^True app\.ovf \d+$/),
      expect.stringMatching(/^True app\.mf \d+$/),
      `True app-disk1.vmdk ${parts.files[0].sizeBytes}`,
      `True app-disk2.vmdk ${parts.files[1].sizeBytes}`,
      'True',
    ]);

    const extracted = join(dir, 'extracted');
    await mkdir(extracted);
    await run('tar', ['--format=ustar', '-xf', ova, '-C', extracted]);
    expect(await readFile(join(extracted, 'app.ovf'), 'utf8')).toBe(descriptor);
    const manifest = await readFile(join(extracted, 'app.mf'), 'utf8');
    expect(manifest).toMatch(
      /^SHA256\(app\.ovf\)= [0-9a-f]{64}\nSHA256\(app-disk1\.vmdk\)= [0-9a-f]{64}\n/,
    );
    // sha256sum reads the BSD-style lines ovftool writes, once the space after '=' is the one it expects.
    await writeFile(join(extracted, 'check.sha256'), manifest.replace(/\)= /g, ') = '));
    const checked = await run('sh', ['-c', `cd '${extracted}' && sha256sum -c check.sha256`]);
    expect(checked.trim().split('\n')).toEqual([
      'app.ovf: OK',
      'app-disk1.vmdk: OK',
      'app-disk2.vmdk: OK',
    ]);

    for (const name of ['app-disk1.vmdk', 'app-disk2.vmdk']) {
      const info = JSON.parse(
        await run('qemu-img', ['info', '--output=json', join(extracted, name)]),
      ) as {
        format: string;
        'format-specific': { data: { 'create-type': string } };
      };
      expect(info.format).toBe('vmdk');
      expect(info['format-specific'].data['create-type']).toBe('streamOptimized');
    }
    expect(await compareImages(join(extracted, 'app-disk1.vmdk'), 'vmdk', source, 'qcow2')).toBe(
      'Images are identical.',
    );
  });

  it('writes a file in chunks (ovf:chunkSize): tar lists them, sha256sum checks them, Dolly reads the file back whole', async () => {
    const [disk1, disk2] = parts.files;
    // Not a divisor of the file, nor aligned with the 1 MiB reads: the last chunk is shorter.
    const chunkBytes = 100_000;
    const chunkSha256 = await rangeDigests(disk1.path, chunkBytes);
    const chunkCount = Math.ceil(disk1.sizeBytes / chunkBytes);
    expect(chunkSha256).toHaveLength(chunkCount);
    expect(chunkCount).toBeGreaterThan(2);
    const chunkNames = chunkSha256.map((_digest, index) => chunkMemberName(disk1.name, index));
    const chunkedDescriptor = writeDescriptor({
      name: 'app',
      hardwareVersion: 'vmx-13',
      guestOs: 'otherGuest',
      vcpus: 1,
      memoryBytes: 256 * MiB,
      disks: [
        {
          diskId: 'vmdisk1',
          label: 'Hard disk 1',
          capacityBytes: GiB,
          fileName: disk1.name,
          fileSizeBytes: disk1.sizeBytes,
          fileChunkBytes: chunkBytes,
        },
        {
          diskId: 'vmdisk2',
          label: 'Hard disk 2',
          capacityBytes: 16 * MiB,
          fileName: disk2.name,
          fileSizeBytes: disk2.sizeBytes,
        },
      ],
      nics: [],
    });
    const ova = join(dir, 'chunked.ova');
    await pipeline(
      writeOva({
        descriptorName: 'app.ovf',
        descriptor: chunkedDescriptor,
        files: [{ ...disk1, chunks: { chunkBytes, sha256: chunkSha256 } }, disk2],
      }),
      createWriteStream(ova),
    );

    // (a) GNU tar, held to USTAR, lists one member per chunk, each of chunkBytes but the last.
    const listing = (await run('tar', ['--format=ustar', '-tvf', ova])).trim().split('\n');
    expect(listing.map((line) => line.split(/\s+/).pop())).toEqual([
      'app.ovf',
      'app.mf',
      ...chunkNames,
      'app-disk2.vmdk',
    ]);
    const sizes = listing.slice(2, 2 + chunkCount).map((line) => Number(line.split(/\s+/)[2]));
    expect(sizes).toEqual(
      chunkNames.map((_name, index) => Math.min(chunkBytes, disk1.sizeBytes - index * chunkBytes)),
    );

    // (b) The manifest names each chunk, not the whole file, and sha256sum agrees with it.
    const extracted = join(dir, 'extracted-chunks');
    await mkdir(extracted);
    await run('tar', ['--format=ustar', '-xf', ova, '-C', extracted]);
    const manifest = await readFile(join(extracted, 'app.mf'), 'utf8');
    expect(manifest).not.toContain(`(${disk1.name})`);
    await writeFile(join(extracted, 'check.sha256'), manifest.replace(/\)= /g, ') = '));
    const checked = await run('sh', ['-c', `cd '${extracted}' && sha256sum -c check.sha256`]);
    expect(checked.trim().split('\n')).toEqual([
      'app.ovf: OK',
      ...chunkNames.map((name) => `${name}: OK`),
      'app-disk2.vmdk: OK',
    ]);

    // (c) Dolly's package reader joins the chunks: the file it gives is the VMDK, equal to its source.
    const received = join(dir, 'received');
    await mkdir(received);
    const summary = await readPackage(ovaMembers(createReadStream(ova)), {
      describe: parseDescriptor,
      certificatePolicy: { requireCertificate: false },
      openFile: async (file) => (content) =>
        pipeline(content, createWriteStream(join(received, file.href))),
    });
    expect(summary.files).toEqual([
      {
        href: disk1.name,
        sizeBytes: disk1.sizeBytes,
        digest: { algorithm: 'SHA256', hex: disk1.sha256 },
      },
      {
        href: disk2.name,
        sizeBytes: disk2.sizeBytes,
        digest: { algorithm: 'SHA256', hex: disk2.sha256 },
      },
    ]);
    expect(await compareImages(join(received, disk1.name), 'vmdk', source, 'qcow2')).toBe(
      'Images are identical.',
    );
  });

  it('refuses chunks that do not cover the file or lack digests, and chunk names USTAR cannot hold', async () => {
    const file = parts.files[0];
    const sha256 = await rangeDigests(file.path, MiB);
    expect(() =>
      writeOva({
        ...parts,
        files: [{ ...file, chunks: { chunkBytes: MiB, sha256: sha256.slice(1) } }],
      }),
    ).toThrow(/chunk SHA-256 hex digests needed/);
    expect(() =>
      writeOva({ ...parts, files: [{ ...file, chunks: { chunkBytes: 0, sha256 } }] }),
    ).toThrow(/chunks of 0 bytes/);
    expect(() =>
      writeOva({
        ...parts,
        files: [{ ...file, chunks: { chunkBytes: 8 * GiB, sha256: [file.sha256] } }],
      }),
    ).toThrow(/chunks of 8589934592 bytes/);
    // A chunked file may be larger than a member; its chunks name with 10 more characters.
    expect(() =>
      writeOva({
        ...parts,
        files: [{ ...file, name: `${'a'.repeat(95)}.vmdk`, chunks: { chunkBytes: MiB, sha256 } }],
      }),
    ).toThrow(/not a plain ASCII file name of at most 100 bytes/);
    // A file of 8 GiB or more is taken once chunked; the file here is not that size.
    const huge = 9 * GiB;
    const accepted = writeOva({
      ...parts,
      files: [
        {
          ...file,
          sizeBytes: huge,
          chunks: { chunkBytes: 4 * GiB, sha256: [file.sha256, file.sha256, file.sha256] },
        },
      ],
    });
    await expect(pipeline(accepted, createWriteStream(join(dir, 'huge.ova')))).rejects.toThrow(
      `is ${file.sizeBytes} bytes, ${huge} were declared`,
    );
  });

  it('a chunked file whose size changes while its chunks are read destroys the stream', async () => {
    const grown = join(dir, 'grown-chunked.bin');
    await run('dd', ['if=/dev/urandom', `of=${grown}`, 'bs=1M', 'count=8', 'status=none']);
    const hashed = await hashFile(grown);
    const chunks = { chunkBytes: MiB, sha256: await rangeDigests(grown, MiB) };
    let appended: Promise<void> | null = null;
    const ova = writeOva(
      { ...parts, files: [{ name: 'grown.bin', path: grown, ...hashed, chunks }] },
      { onBytes: (n) => void (n > 0 && (appended ??= appendFile(grown, 'more'))) },
    );
    const slowReader = new Writable({
      highWaterMark: 64 * 1024,
      write: (_chunk, _encoding, callback) => setTimeout(callback, 1),
    });
    await expect(pipeline(ova, slowReader)).rejects.toThrow(
      /grown\.bin\.00000000\d": .* changed size while read \(8388612 bytes, 8388608 declared\)/,
    );
    await appended;
  });

  it('respects backpressure: what is produced stays a few MiB ahead of a slow reader', async () => {
    const big = join(dir, 'big.bin');
    await run('dd', ['if=/dev/urandom', `of=${big}`, 'bs=1M', 'count=48', 'status=none']);
    let produced = 0;
    let consumed = 0;
    let mostAhead = 0;
    const slowReader = new Writable({
      highWaterMark: 64 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        consumed += chunk.length;
        mostAhead = Math.max(mostAhead, produced - consumed);
        setTimeout(callback, 1);
      },
    });
    const ova = writeOva(
      { ...parts, files: [{ name: 'big.bin', path: big, ...(await hashFile(big)) }] },
      { onBytes: (n) => (produced += n) },
    );
    await pipeline(ova, slowReader);
    expect(consumed).toBeGreaterThan(48 * MiB);
    expect(mostAhead).toBeLessThan(4 * MiB);
  });

  it('a file whose size differs from the one declared destroys the stream', async () => {
    const grown = join(dir, 'grown.vmdk');
    await writeFile(grown, Buffer.alloc(4096, 1));
    const hashed = await hashFile(grown);
    await appendFile(grown, 'more');
    const ova = writeOva({ ...parts, files: [{ name: 'grown.vmdk', path: grown, ...hashed }] });
    await expect(pipeline(ova, createWriteStream(join(dir, 'bad.ova')))).rejects.toThrow(
      /4100 bytes, 4096 were declared/,
    );
  });

  it('names no USTAR header holds, names twice and members of 8 GiB are refused at once', () => {
    const file = parts.files[0];
    expect(() => writeOva({ ...parts, files: [{ ...file, name: '../escape.vmdk' }] })).toThrow(
      RangeError,
    );
    expect(() => writeOva({ ...parts, files: [{ ...file, name: 'dïsk.vmdk' }] })).toThrow(
      RangeError,
    );
    expect(() => writeOva({ ...parts, files: [{ ...file, name: `${'a'.repeat(101)}` }] })).toThrow(
      RangeError,
    );
    expect(() => writeOva({ ...parts, files: [file, file] })).toThrow(/named twice/);
    expect(() => writeOva({ ...parts, files: [{ ...file, name: 'app.mf' }] })).toThrow(
      /named twice/,
    );
    expect(() => writeOva({ ...parts, files: [{ ...file, sizeBytes: 8 * GiB }] })).toThrow(
      /chunk it/,
    );
  });

  it('a reader that stops early ends the archive and closes the file it was reading', async () => {
    const big = join(dir, 'early.bin');
    await run('dd', ['if=/dev/urandom', `of=${big}`, 'bs=1M', 'count=16', 'status=none']);
    const ova = writeOva({
      ...parts,
      files: [{ name: 'early.bin', path: big, ...(await hashFile(big)) }],
    });
    let received = 0;
    for await (const chunk of ova) {
      received += (chunk as Buffer).length;
      if (received > 2 * MiB) break;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(ova.destroyed).toBe(true);
    const open = await Promise.all(
      (await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')),
    );
    expect(open).not.toContain(big);
  });

  it('cancel stops the archive with the signal reason', async () => {
    const controller = new AbortController();
    let seen = 0;
    const ova = writeOva(parts, {
      signal: controller.signal,
      onBytes: (n) => {
        seen += n;
        if (seen > MiB / 4) controller.abort(new Error('export cancelled'));
      },
    });
    await expect(pipeline(ova, createWriteStream(join(dir, 'cancelled.ova')))).rejects.toThrow(
      'export cancelled',
    );
  });
});

/** Each consecutive range's SHA-256, computed here apart from the code under test. */
async function rangeDigests(path: string, rangeBytes: number): Promise<string[]> {
  const data = await readFile(path);
  const digests: string[] = [];
  for (let start = 0; start < data.length; start += rangeBytes)
    digests.push(
      createHash('sha256')
        .update(data.subarray(start, start + rangeBytes))
        .digest('hex'),
    );
  return digests;
}
