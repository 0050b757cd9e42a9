import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aliveCount, collectGarbage, ovfDescriptor } from '@dolly/testing/pure';
import { PackageRefused, type OvfFileReference, type ParsedDescriptor } from '../model';
import { parseDescriptor } from '../descriptor';
import type { CertificatePolicy } from './certificate';
import { folderMembers } from './folder-members';
import { listedMembers } from './listed-members';
import type { PackageMember } from './member';
import { ovaMembers } from './ova-members';
import { readPackage, type PackageHandlers, type PackageSummary } from './read-package';

/**
 * Packages built by the outside tools that build real ones (qemu-img, GNU tar, sha256sum, gzip,
 * split, openssl) and hostile ones forged with python's tarfile, their descriptors read by the
 * real parser.
 */

let work: string;
const sh = (command: string, cwd = work): string =>
  execFileSync('bash', ['-c', command], { cwd, encoding: 'utf8' });
const sha256Of = (path: string): string =>
  createHash('sha256')
    .update(readFileSync(join(work, path)))
    .digest('hex');

interface TestFile {
  href: string;
  compression?: 'gzip';
  chunkSizeBytes?: number;
  /** Omitted: the size of the file in the work folder (all its chunks). */
  sizeBytes?: number | null;
  capacityBytes?: number;
}

/** A real OVF 1.x descriptor (read by the real parser): one VM with a disk per file, on SCSI. */
function writeDescriptor(name: string, files: TestFile[]): void {
  const xml = ovfDescriptor({
    name: 'app',
    cpus: 1,
    memoryMiB: 256,
    disks: files.map((file) => ({
      href: file.href,
      fileSizeBytes: file.sizeBytes === undefined ? storedSize(file) : file.sizeBytes,
      capacityBytes: file.capacityBytes ?? 4 * 1024 * 1024,
      compression: file.compression,
      chunkSizeBytes: file.chunkSizeBytes,
    })),
    nics: [],
  });
  writeFileSync(join(work, name), xml);
}

function storedSize(file: TestFile): number {
  if (file.chunkSizeBytes === undefined) return statSync(join(work, file.href)).size;
  return Number(sh(`cat ${file.href}.0* | wc -c`).trim());
}

const describe_ = (xml: Buffer): ParsedDescriptor => parseDescriptor(xml);

/** A writer per file that hashes what it receives: the bytes after inflating and joining. */
function hashingHandlers(
  extra: Partial<PackageHandlers> = {},
): PackageHandlers & { received: Map<string, string> } {
  const received = new Map<string, string>();
  return {
    received,
    describe: describe_,
    certificatePolicy: { requireCertificate: false },
    openFile: async (file: OvfFileReference) => async (content: AsyncIterable<Buffer>) => {
      const hash = createHash('sha256');
      for await (const chunk of content) hash.update(chunk);
      received.set(file.href, hash.digest('hex'));
    },
    ...extra,
  };
}

const writeManifest = (
  name: string,
  members: string[],
  tool = 'sha256sum',
  algorithm = 'SHA256',
): void => {
  sh(
    `${tool} ${members.join(' ')} | sed -E 's/^([0-9a-f]+)  (.*)$/${algorithm}(\\2)= \\1/' > ${name}`,
  );
};

const ustar = (ova: string, members: string[], format = 'ustar'): string => {
  sh(`tar --format=${format} -cf ${ova} ${members.join(' ')}`);
  return join(work, ova);
};

const ova = (path: string): AsyncIterable<PackageMember> =>
  ovaMembers(createReadStream(path, { highWaterMark: 64 * 1024 }));

async function refusal(promise: Promise<unknown>): Promise<string[]> {
  try {
    await promise;
  } catch (error: unknown) {
    if (error instanceof PackageRefused) return error.reasons.map((reason) => reason.code);
    throw error;
  }
  throw new Error('the package was accepted');
}

/** A python tarfile script that forges a USTAR archive from (name, kind, data) members. */
function forge(ova: string, members: [string, 'file' | 'hardlink' | 'symlink', string][]): string {
  const script = `
import io, sys, tarfile
with tarfile.open(sys.argv[1], 'w', format=tarfile.USTAR_FORMAT) as tar:
    for name, kind, data in ${JSON.stringify(members)}:
        info = tarfile.TarInfo(name)
        if kind == 'file':
            content = open(data, 'rb').read()
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        else:
            info.type = tarfile.LNKTYPE if kind == 'hardlink' else tarfile.SYMTYPE
            info.linkname = data
            tar.addfile(info)
`;
  execFileSync('python3', ['-c', script, ova], { cwd: work });
  return join(work, ova);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'dolly-ovf-reader-'));
  sh('qemu-img create -q -f raw source.raw 4M');
  sh(`qemu-io -f raw -c 'write -P 0x5a 0 1M' -c 'write -P 0xa5 3M 512K' source.raw`);
  // Data that does not compress, so the gzip file spans several chunks.
  sh('dd if=/dev/urandom of=source.raw bs=64K count=8 seek=32 conv=notrunc status=none');
  sh('qemu-img convert -O vmdk -o subformat=streamOptimized source.raw disk.vmdk');
  sh(
    'openssl req -x509 -newkey rsa:2048 -nodes -keyout signer.key -out signer.pem -days 2 -subj "/CN=Dolly Test Signer" 2>/dev/null',
  );
  sh(
    'openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 2 -subj "/CN=Someone Else" 2>/dev/null',
  );
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function sign(manifest: string, certificate: string, key = 'signer.key', pem = 'signer.pem'): void {
  sh(`openssl dgst -sha256 -sign ${key} -out ${manifest}.sig ${manifest}`);
  sh(
    `{ echo "SHA256(${manifest})= $(od -An -v -tx1 ${manifest}.sig | tr -d ' \\n')"; cat ${pem}; } > ${certificate}`,
  );
}

describe('an OVA built by qemu-img, tar, sha256sum and openssl', () => {
  it('is read with its disk given whole to its writer, the manifest and the certificate verified', async () => {
    writeDescriptor('app.ovf', [{ href: 'disk.vmdk' }]);
    writeManifest('app.mf', ['app.ovf', 'disk.vmdk']);
    sign('app.mf', 'app.cert');
    const path = ustar('good.ova', ['app.ovf', 'app.mf', 'app.cert', 'disk.vmdk']);
    const policy: CertificatePolicy = {
      requireCertificate: true,
      trustedCaPems: [readFileSync(join(work, 'signer.pem'), 'utf8')],
    };
    const progress: number[] = [];
    const handlers = hashingHandlers({
      certificatePolicy: policy,
      onProgress: (bytes) => progress.push(bytes),
    });

    const summary: PackageSummary = await readPackage(ova(path), handlers);

    expect(handlers.received.get('disk.vmdk')).toBe(sha256Of('disk.vmdk'));
    expect(summary).toMatchObject({
      descriptorName: 'app.ovf',
      descriptorSha256: sha256Of('app.ovf'),
      manifest: { name: 'app.mf', sha256: sha256Of('app.mf') },
      certificate: { subject: 'CN=Dolly Test Signer' },
      files: [
        {
          href: 'disk.vmdk',
          sizeBytes: statSync(join(work, 'disk.vmdk')).size,
          digest: { algorithm: 'SHA256', hex: sha256Of('disk.vmdk') },
        },
      ],
    });
    expect(summary.certificate?.fingerprintSha256).toBe(
      sh('openssl x509 -in signer.pem -noout -fingerprint -sha256').trim().split('=')[1],
    );
    expect(progress.at(-1)).toBe(summary.bytesRead);
  });

  it('takes a manifest at the end, SHA1 when it precedes the files, and refuses SHA1 it could not compute', async () => {
    writeDescriptor('app.ovf', [{ href: 'disk.vmdk' }]);
    writeManifest('app.mf', ['app.ovf', 'disk.vmdk']);
    await readPackage(
      ova(ustar('last.ova', ['app.ovf', 'disk.vmdk', 'app.mf'])),
      hashingHandlers(),
    );
    writeManifest('app.mf', ['app.ovf', 'disk.vmdk'], 'sha1sum', 'SHA1');
    await readPackage(
      ova(ustar('sha1.ova', ['app.ovf', 'app.mf', 'disk.vmdk'])),
      hashingHandlers(),
    );
    expect(
      await refusal(
        readPackage(
          ova(ustar('sha1-last.ova', ['app.ovf', 'disk.vmdk', 'app.mf'])),
          hashingHandlers(),
        ),
      ),
    ).toEqual(['MANIFEST.UNVERIFIABLE_DIGEST']);
  });

  it('inflates a gzip file split in chunks and gives its writer the original bytes', async () => {
    sh(
      'gzip -c disk.vmdk > disk.vmdk.gz && rm -f disk.vmdk.gz.0* && split -b 100000 -d -a 9 disk.vmdk.gz disk.vmdk.gz.',
    );
    const chunks = sh('ls disk.vmdk.gz.0*').trim().split('\n');
    expect(chunks.length).toBeGreaterThan(1);
    writeDescriptor('app.ovf', [
      { href: 'disk.vmdk.gz', compression: 'gzip', chunkSizeBytes: 100000 },
    ]);
    writeManifest('app.mf', ['app.ovf', ...chunks]);
    const handlers = hashingHandlers();
    const summary = await readPackage(
      ova(ustar('chunked.ova', ['app.ovf', 'app.mf', ...chunks])),
      handlers,
    );
    expect(handlers.received.get('disk.vmdk.gz')).toBe(sha256Of('disk.vmdk'));
    expect(summary.files).toEqual([
      {
        href: 'disk.vmdk.gz',
        sizeBytes: statSync(join(work, 'disk.vmdk.gz')).size,
        digest: { algorithm: 'SHA256', hex: sha256Of('disk.vmdk.gz') },
      },
    ]);
  });

  it('refuses a gzip file that inflates past what its disk can hold (a bomb)', async () => {
    sh('head -c 64M /dev/zero | gzip -c > bomb.gz');
    writeDescriptor('app.ovf', [
      { href: 'bomb.gz', compression: 'gzip', capacityBytes: 1024 * 1024 },
    ]);
    const codes = await refusal(
      readPackage(ova(ustar('bomb.ova', ['app.ovf', 'bomb.gz'])), hashingHandlers()),
    );
    expect(codes).toEqual(['FILE.TOO_LARGE']);
  });

  it('refuses a cut gzip stream', async () => {
    sh('head -c $(( $(stat -c %s disk.vmdk.gz) / 2 )) disk.vmdk.gz > cut.gz');
    writeDescriptor('app.ovf', [{ href: 'cut.gz', compression: 'gzip' }]);
    expect(
      await refusal(
        readPackage(ova(ustar('cut-gzip.ova', ['app.ovf', 'cut.gz'])), hashingHandlers()),
      ),
    ).toEqual(['FILE.GZIP_CORRUPT']);
  });
});

describe('an OVA with a fault', () => {
  beforeEach(() => {
    writeDescriptor('app.ovf', [{ href: 'disk.vmdk' }]);
    writeManifest('app.mf', ['app.ovf', 'disk.vmdk']);
  });

  it('a wrong digest', async () => {
    sh(`sed -i -E 's/^(SHA256\\(disk.vmdk\\)= ).*/\\1${'0'.repeat(64)}/' app.mf`);
    expect(
      await refusal(
        readPackage(
          ova(ustar('digest.ova', ['app.ovf', 'app.mf', 'disk.vmdk'])),
          hashingHandlers(),
        ),
      ),
    ).toEqual(['MANIFEST.DIGEST_MISMATCH']);
  });

  it('a missing file, listed by the manifest', async () => {
    writeDescriptor('app.ovf', [{ href: 'disk.vmdk' }, { href: 'disk2.vmdk', sizeBytes: 10 }]);
    sh(
      `sha256sum app.ovf disk.vmdk | sed -E 's/^([0-9a-f]+)  (.*)$/SHA256(\\2)= \\1/' > app.mf && echo "SHA256(disk2.vmdk)= ${'1'.repeat(64)}" >> app.mf`,
    );
    expect(
      await refusal(
        readPackage(
          ova(ustar('missing.ova', ['app.ovf', 'app.mf', 'disk.vmdk'])),
          hashingHandlers(),
        ),
      ),
    ).toEqual(['FILE.MISSING', 'MANIFEST.LISTS_MISSING_MEMBER']);
  });

  it('a file the manifest does not list, and a member nothing references', async () => {
    sh('echo stray > notes.txt');
    writeManifest('app.mf', ['app.ovf']);
    expect(
      await refusal(
        readPackage(
          ova(ustar('unlisted.ova', ['app.ovf', 'app.mf', 'disk.vmdk', 'notes.txt'])),
          hashingHandlers(),
        ),
      ),
    ).toEqual([
      'PACKAGE.UNEXPECTED_MEMBER',
      'MANIFEST.MEMBER_NOT_LISTED',
      'MANIFEST.MEMBER_NOT_LISTED',
    ]);
  });

  it('a declared size that is not the file’s', async () => {
    writeDescriptor('app.ovf', [{ href: 'disk.vmdk', sizeBytes: 1000 }]);
    writeManifest('app.mf', ['app.ovf', 'disk.vmdk']);
    const handlers = hashingHandlers();
    expect(
      await refusal(
        readPackage(ova(ustar('size.ova', ['app.ovf', 'app.mf', 'disk.vmdk'])), handlers),
      ),
    ).toEqual(['FILE.SIZE_MISMATCH']);
  });

  it('a truncated archive (cut inside the disk)', async () => {
    const path = ustar('whole.ova', ['app.ovf', 'app.mf', 'disk.vmdk']);
    sh(`head -c ${statSync(path).size - 20000} whole.ova > truncated.ova`);
    expect(await refusal(readPackage(ova(join(work, 'truncated.ova')), hashingHandlers()))).toEqual(
      ['OVA.TRUNCATED'],
    );
  });

  it('an archive cut at a member boundary, without its end blocks', async () => {
    writeDescriptor('app.ovf', []);
    // The header and the descriptor's blocks, not the two zero blocks that end an archive.
    const kept = 512 + Math.ceil(statSync(join(work, 'app.ovf')).size / 512) * 512;
    sh(`tar --format=ustar -cf tmp.ova app.ovf && head -c ${kept} tmp.ova > no-end.ova`);
    expect(await refusal(readPackage(ova(join(work, 'no-end.ova')), hashingHandlers()))).toEqual([
      'OVA.TRUNCATED',
    ]);
  });

  it('the descriptor not first', async () => {
    expect(
      await refusal(
        readPackage(ova(ustar('order.ova', ['disk.vmdk', 'app.ovf', 'app.mf'])), hashingHandlers()),
      ),
    ).toContain('PACKAGE.DESCRIPTOR_NOT_FIRST');
  });

  it.each(['gnu', 'pax'])('a %s archive, not USTAR', async (format) => {
    const codes = await refusal(
      readPackage(
        ova(ustar(`${format}.ova`, ['app.ovf', 'app.mf', 'disk.vmdk'], format)),
        hashingHandlers(),
      ),
    );
    expect(new Set(codes)).toEqual(new Set(['OVA.NOT_USTAR']));
  });

  it('a symlink member made by ln -s', async () => {
    sh(
      'mkdir -p linked && cp app.ovf linked/ && ln -sf /etc/passwd linked/disk.vmdk && tar --format=ustar -C linked -cf "$PWD/symlink.ova" app.ovf disk.vmdk',
    );
    expect(await refusal(readPackage(ova(join(work, 'symlink.ova')), hashingHandlers()))).toEqual([
      'OVA.NOT_REGULAR_FILE',
      'FILE.MISSING',
    ]);
  });

  it.each([
    ['a path traversal', '../x', 'PACKAGE.PATH_TRAVERSAL'],
    ['an absolute path', '/etc/passwd', 'PACKAGE.PATH_ABSOLUTE'],
    ['a directory part', 'sub/disk.vmdk', 'PACKAGE.NAME_HAS_DIRECTORY'],
  ])('%s forged with tarfile', async (_, name, code) => {
    const path = forge(`hostile-${code}.ova`, [
      ['app.ovf', 'file', 'app.ovf'],
      ['disk.vmdk', 'file', 'disk.vmdk'],
      [name, 'file', 'app.mf'],
    ]);
    expect(await refusal(readPackage(ova(path), hashingHandlers()))).toContain(code);
  });

  it('a member twice and a hard link, every reason at once', async () => {
    const path = forge('twice.ova', [
      ['app.ovf', 'file', 'app.ovf'],
      ['disk.vmdk', 'file', 'disk.vmdk'],
      ['disk.vmdk', 'file', 'disk.vmdk'],
      ['other.vmdk', 'hardlink', 'disk.vmdk'],
      ['../../etc/cron.d/x', 'symlink', '/tmp/x'],
    ]);
    expect(await refusal(readPackage(ova(path), hashingHandlers()))).toEqual([
      'PACKAGE.DUPLICATE_MEMBER',
      'OVA.NOT_REGULAR_FILE',
      'PACKAGE.PATH_TRAVERSAL',
      'OVA.NOT_REGULAR_FILE',
    ]);
  });
});

describe('a certificate', () => {
  beforeEach(() => {
    writeDescriptor('app.ovf', [{ href: 'disk.vmdk' }]);
    writeManifest('app.mf', ['app.ovf', 'disk.vmdk']);
  });
  const signedOva = (name: string): AsyncIterable<PackageMember> =>
    ova(ustar(name, ['app.ovf', 'app.mf', 'app.cert', 'disk.vmdk']));

  it('signed by another key than its certificate’s', async () => {
    sign('app.mf', 'app.cert', 'other.key', 'signer.pem');
    expect(await refusal(readPackage(signedOva('bad-signature.ova'), hashingHandlers()))).toEqual([
      'CERTIFICATE.BAD_SIGNATURE',
    ]);
  });

  it('from a signer no trusted authority vouches for, or out of its dates', async () => {
    sign('app.mf', 'app.cert');
    const untrusted: CertificatePolicy = {
      requireCertificate: true,
      trustedCaPems: [readFileSync(join(work, 'other.pem'), 'utf8')],
    };
    expect(
      await refusal(
        readPackage(signedOva('untrusted.ova'), hashingHandlers({ certificatePolicy: untrusted })),
      ),
    ).toEqual(['CERTIFICATE.UNTRUSTED']);
    const later: CertificatePolicy = {
      requireCertificate: true,
      validAt: new Date(Date.now() + 30 * 86_400_000),
    };
    expect(
      await refusal(
        readPackage(signedOva('expired.ova'), hashingHandlers({ certificatePolicy: later })),
      ),
    ).toEqual(['CERTIFICATE.EXPIRED']);
  });

  it('over a manifest that changed after signing', async () => {
    sign('app.mf', 'app.cert');
    sh('echo >> app.mf');
    expect(await refusal(readPackage(signedOva('resigned.ova'), hashingHandlers()))).toEqual([
      'CERTIFICATE.BAD_SIGNATURE',
    ]);
  });
});

describe('an OVF folder', () => {
  it('is read in package order, the References’ files from beside the descriptor', async () => {
    sh('rm -rf folder outside && mkdir folder outside && cp disk.vmdk folder/');
    const at = join(work, 'folder');
    writeDescriptor('folder/app.ovf', [
      { href: 'disk.vmdk', sizeBytes: statSync(join(work, 'disk.vmdk')).size },
    ]);
    sh(
      `sha256sum app.ovf disk.vmdk | sed -E 's/^([0-9a-f]+)  (.*)$/SHA256(\\2)= \\1/' > app.mf`,
      at,
    );
    const handlers = hashingHandlers();
    const summary = await readPackage(folderMembers(join(at, 'app.ovf'), describe_), handlers);
    expect(summary.manifest?.name).toBe('app.mf');
    expect(handlers.received.get('disk.vmdk')).toBe(sha256Of('disk.vmdk'));
  });

  it('refuses a symlink that leads out of the folder', async () => {
    sh(
      'rm -rf folder outside && mkdir folder outside && cp disk.vmdk outside/ && ln -s ../outside/disk.vmdk folder/disk.vmdk',
    );
    writeDescriptor('folder/app.ovf', [{ href: 'disk.vmdk', sizeBytes: 1 }]);
    const codes = await refusal(
      readPackage(folderMembers(join(work, 'folder', 'app.ovf'), describe_), hashingHandlers()),
    );
    expect(codes).toEqual(['OVF_FOLDER.LINK_OUTSIDE', 'FILE.MISSING']);
  });

  it('refuses an href that climbs out (the descriptor says so: nothing outside is opened)', async () => {
    sh('rm -rf folder outside && mkdir folder outside && cp disk.vmdk outside/');
    writeDescriptor('folder/app.ovf', [{ href: '../outside/disk.vmdk', sizeBytes: 1 }]);
    const handlers = hashingHandlers();
    const codes = await refusal(
      readPackage(folderMembers(join(work, 'folder', 'app.ovf'), describe_), handlers),
    );
    expect(codes).toEqual(['OVF.BAD_FILE_HREF']);
    expect(handlers.received.size).toBe(0);
  });
});

describe('an OVF uploaded as separate files', () => {
  const file = (name: string): { name: string; content: AsyncIterable<Buffer> } => ({
    name,
    content: createReadStream(join(work, name)),
  });

  it('is read like an OVA, with the same name checks', async () => {
    writeDescriptor('app.ovf', [{ href: 'disk.vmdk' }]);
    writeManifest('app.mf', ['app.ovf', 'disk.vmdk']);
    const handlers = hashingHandlers();
    await readPackage(
      listedMembers([file('app.ovf'), file('app.mf'), file('disk.vmdk')]),
      handlers,
    );
    expect(handlers.received.get('disk.vmdk')).toBe(sha256Of('disk.vmdk'));
    const hostile = [
      file('app.ovf'),
      file('app.mf'),
      file('disk.vmdk'),
      { ...file('disk.vmdk') },
      { ...file('app.mf'), name: '../app.mf' },
    ];
    expect(await refusal(readPackage(listedMembers(hostile), hashingHandlers()))).toEqual([
      'PACKAGE.DUPLICATE_MEMBER',
      'PACKAGE.PATH_TRAVERSAL',
    ]);
  });
});

describe('cancellation', () => {
  it('stops reading promptly with the signal’s reason, even while the input waits', async () => {
    writeDescriptor('app.ovf', [{ href: 'disk.vmdk' }]);
    const bytes = readFileSync(ustar('cancel.ova', ['app.ovf', 'disk.vmdk']));
    const controller = new AbortController();
    async function* stalling(): AsyncGenerator<Buffer> {
      yield bytes.subarray(0, 4096);
      await new Promise(() => undefined); // an upload that never sends more
    }
    const reading = readPackage(
      ovaMembers(stalling()),
      hashingHandlers({ signal: controller.signal }),
    );
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    await expect(reading).rejects.toMatchObject({ name: 'AbortError' });
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('memory', () => {
  it('holds no chunk it passed on while a cancel signal waits beside the read', async () => {
    const chunkBytes = 64 * 1024;
    const chunkCount = 256;
    writeDescriptor('held.ovf', [{ href: 'disk.vmdk', sizeBytes: chunkBytes * chunkCount }]);
    const descriptor = readFileSync(join(work, 'held.ovf'));
    const chunks: WeakRef<Buffer>[] = [];
    async function* disk(): AsyncGenerator<Buffer> {
      for (let i = 0; i < chunkCount; i++) {
        const chunk = Buffer.alloc(chunkBytes, i);
        chunks.push(new WeakRef(chunk));
        yield chunk;
      }
    }
    async function* members(): AsyncGenerator<PackageMember> {
      yield {
        name: 'held.ovf',
        sizeBytes: descriptor.length,
        content: (async function* () {
          yield descriptor;
        })(),
      };
      yield { name: 'disk.vmdk', sizeBytes: chunkBytes * chunkCount, content: disk() };
    }
    let alivePassed = -1;
    const handlers = hashingHandlers({
      signal: new AbortController().signal,
      openFile: async () => async (content: AsyncIterable<Buffer>) => {
        let seen = 0;
        for await (const _chunk of content) {
          if (++seen !== chunkCount - 8) continue;
          await collectGarbage();
          // The reader may hold a few chunks ahead; everything before them is gone.
          alivePassed = aliveCount(chunks.slice(0, chunkCount - 16));
        }
      },
    });
    await readPackage(members(), handlers);
    expect(alivePassed).toBe(0);
  });
});
