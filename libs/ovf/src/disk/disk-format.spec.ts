import { type PackageRefused } from '../model';
import { DiskRefusals } from './disk-reasons';
import { checkDeclaredFormat, checkQcow2Header, sniffDiskFormat } from './disk-format';
import { DiskReasonCode } from '.';

function sparseHead(flags: number): Buffer {
  const head = Buffer.alloc(512);
  head.write('KDMV', 0, 'latin1');
  head.writeUInt32LE(3, 4);
  head.writeUInt32LE(flags, 8);
  return head;
}

function qcow2Head(
  fields: {
    version?: number;
    backing?: bigint;
    size?: bigint;
    crypt?: number;
    incompatible?: bigint;
  } = {},
): Buffer {
  const head = Buffer.alloc(512);
  head.writeUInt32BE(0x514649fb, 0);
  head.writeUInt32BE(fields.version ?? 3, 4);
  head.writeBigUInt64BE(fields.backing ?? 0n, 8);
  head.writeUInt32BE(16, 20);
  head.writeBigUInt64BE(fields.size ?? 1n << 30n, 24);
  head.writeUInt32BE(fields.crypt ?? 0, 32);
  head.writeBigUInt64BE(fields.incompatible ?? 0n, 72);
  head.writeUInt32BE(112, 100);
  return head;
}

function reasonsOf(check: (refusals: DiskRefusals) => void): string[] {
  const refusals = new DiskRefusals('disk1.vmdk');
  check(refusals);
  try {
    refusals.throwIfAny();
    return [];
  } catch (error) {
    return (error as PackageRefused).reasons.map((reason) => reason.code);
  }
}

describe('sniffDiskFormat', () => {
  it('reads qcow2 and the two sparse VMDKs from their magic and flags', () => {
    expect(sniffDiskFormat(qcow2Head())).toBe('qcow2');
    expect(sniffDiskFormat(sparseHead(0x30001))).toBe('vmdk-streamOptimized');
    expect(sniffDiskFormat(sparseHead(0x3))).toBe('vmdk-monolithicSparse');
  });

  it('names nothing for raw data, short heads and formats Dolly does not read', () => {
    expect(sniffDiskFormat(Buffer.alloc(512))).toBeNull();
    expect(sniffDiskFormat(Buffer.from('KDMV'))).toBeNull();
    expect(sniffDiskFormat(Buffer.alloc(0))).toBeNull();
    expect(sniffDiskFormat(Buffer.from('vhdxfile'))).toBeNull();
  });
});

describe('checkDeclaredFormat', () => {
  it('accepts what the head shows, and raw for data with no image signature', () => {
    expect(reasonsOf((r) => checkDeclaredFormat(qcow2Head(), 'qcow2', r))).toEqual([]);
    expect(reasonsOf((r) => checkDeclaredFormat(Buffer.alloc(512, 0xeb), 'raw', r))).toEqual([]);
    expect(reasonsOf((r) => checkDeclaredFormat(Buffer.alloc(0), 'raw', r))).toEqual([]);
  });

  it('refuses another format than declared, naming what the content is', () => {
    const refusals = new DiskRefusals('disk1.vmdk');
    checkDeclaredFormat(qcow2Head(), 'vmdk-streamOptimized', refusals);
    expect(() => refusals.throwIfAny()).toThrow(
      'declared vmdk-streamOptimized, the content is a qcow2 image',
    );
    expect(reasonsOf((r) => checkDeclaredFormat(Buffer.from('vhdxfile'), 'raw', r))).toEqual([
      DiskReasonCode.FORMAT_MISMATCH,
    ]);
    expect(
      reasonsOf((r) =>
        checkDeclaredFormat(Buffer.from('# Disk DescriptorFile\n'), 'vmdk-monolithicFlat', r),
      ),
    ).toEqual([DiskReasonCode.FORMAT_MISMATCH]);
    expect(reasonsOf((r) => checkDeclaredFormat(sparseHead(0x3), 'qcow2', r))).toEqual([
      DiskReasonCode.FORMAT_MISMATCH,
    ]);
  });

  it('refuses a head with no magic as a bad image of the declared kind', () => {
    expect(
      reasonsOf((r) => checkDeclaredFormat(Buffer.alloc(512), 'vmdk-streamOptimized', r)),
    ).toEqual([DiskReasonCode.BAD_VMDK]);
    expect(reasonsOf((r) => checkDeclaredFormat(Buffer.alloc(512), 'qcow2', r))).toEqual([
      DiskReasonCode.BAD_QCOW2,
    ]);
  });
});

describe('checkQcow2Header', () => {
  const GiB = 1 << 30;
  it('accepts a plain qcow2 of the declared size', () => {
    expect(reasonsOf((r) => checkQcow2Header(qcow2Head(), GiB, r))).toEqual([]);
  });

  it('says every reason at once: backing file, size, encryption, external data, unknown features', () => {
    const head = qcow2Head({
      backing: 4096n,
      size: 2n << 30n,
      crypt: 2,
      incompatible: (1n << 2n) | (1n << 40n),
    });
    expect(reasonsOf((r) => checkQcow2Header(head, GiB, r))).toEqual([
      DiskReasonCode.HAS_PARENT,
      DiskReasonCode.CAPACITY_MISMATCH,
      DiskReasonCode.ENCRYPTED,
      DiskReasonCode.HAS_PARENT,
      DiskReasonCode.BAD_QCOW2,
    ]);
  });

  it('refuses versions other than 2 and 3 and a header cut short', () => {
    expect(reasonsOf((r) => checkQcow2Header(qcow2Head({ version: 4 }), GiB, r))).toEqual([
      DiskReasonCode.BAD_QCOW2,
    ]);
    expect(reasonsOf((r) => checkQcow2Header(qcow2Head().subarray(0, 40), GiB, r))).toEqual([
      DiskReasonCode.TRUNCATED,
    ]);
  });
});

describe('DiskRefusals', () => {
  it('stops listing after 50 reasons and says how many more there were', () => {
    const refusals = new DiskRefusals('disk1.vmdk');
    for (let i = 0; i < 70; i++) refusals.add(DiskReasonCode.GRAIN_OUT_OF_RANGE, `grain ${i}`, i);
    let refused: PackageRefused | undefined;
    try {
      refusals.throwIfAny();
    } catch (error) {
      refused = error as PackageRefused;
    }
    expect(refused?.reasons).toHaveLength(51);
    expect(refused?.reasons[0]).toEqual({
      code: 'DISK.GRAIN_OUT_OF_RANGE',
      detail: 'grain 0',
      at: 'disk1.vmdk, byte 0',
    });
    expect(refused?.reasons[50].detail).toBe('20 more reasons of this disk not listed');
  });
});
