import { parseManifest } from './manifest';

const sha256 = 'a'.repeat(64);
const codes = (text: string): string[] => parseManifest(text).reasons.map((reason) => reason.code);

describe('parseManifest', () => {
  it('reads the three algorithms, with and without the space ovftool sometimes leaves out', () => {
    const parsed = parseManifest(
      `SHA1(a.ovf)= ${'b'.repeat(40)}\nSHA256(disk.vmdk)=${sha256.toUpperCase()}\r\nSHA512(x (1).iso)= ${'c'.repeat(128)}\n\n`,
    );
    expect(parsed.reasons).toEqual([]);
    expect(parsed.entries).toEqual([
      { name: 'a.ovf', algorithm: 'SHA1', hex: 'b'.repeat(40) },
      { name: 'disk.vmdk', algorithm: 'SHA256', hex: sha256 },
      { name: 'x (1).iso', algorithm: 'SHA512', hex: 'c'.repeat(128) },
    ]);
  });

  it('gives every bad line its own reason, not only the first', () => {
    const text = [
      `MD5(a.ovf)= ${'d'.repeat(32)}`,
      `SHA256(a.ovf)= ${'d'.repeat(63)}`,
      'just some text',
      `SHA256()= ${sha256}`,
      `SHA256(a.ovf) = ${sha256}`,
      `SHA256(b.vmdk)= ${'g'.repeat(64)}`,
    ].join('\n');
    expect(codes(text)).toEqual([
      'MANIFEST.UNSUPPORTED_ALGORITHM',
      'MANIFEST.BAD_DIGEST',
      'MANIFEST.BAD_LINE',
      'MANIFEST.BAD_LINE',
      'MANIFEST.BAD_LINE',
      'MANIFEST.BAD_LINE',
    ]);
    expect(parseManifest(text).reasons.map((reason) => reason.at)).toEqual([
      'line 1',
      'line 2',
      'line 3',
      'line 4',
      'line 5',
      'line 6',
    ]);
  });

  it('refuses a name listed twice, even with another algorithm', () => {
    const parsed = parseManifest(
      `SHA256(disk.vmdk)= ${sha256}\nSHA1(disk.vmdk)= ${'b'.repeat(40)}\n`,
    );
    expect(parsed.reasons).toEqual([
      expect.objectContaining({ code: 'MANIFEST.DUPLICATE_ENTRY', at: 'disk.vmdk' }),
    ]);
    expect(parsed.entries).toHaveLength(1);
  });

  it('bounds what it reads: lines and line length', () => {
    expect(codes('\n'.repeat(20_000))).toEqual(['MANIFEST.TOO_MANY_LINES']);
    expect(codes(`SHA256(${'n'.repeat(5000)})= ${sha256}`)).toEqual(['MANIFEST.BAD_LINE']);
  });
});
