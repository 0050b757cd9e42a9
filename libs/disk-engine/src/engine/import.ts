/**
 * What an image to import must be: what its caller and its name say it is (the format is probed,
 * never trusted), and self-contained (no backing file, no qcow2 data file, no VMDK extent
 * elsewhere), so that nothing outside the datastore is ever opened on its behalf.
 */
import { stat } from 'node:fs/promises';
import { basename, extname, isAbsolute } from 'node:path';
import { DiskEngineError } from '../errors';
import { type ImportImage } from '../port';
import * as qemuImg from '../qemu/qemu-img';

const EXTENSION_FORMATS: Record<string, ImportImage['sourceFormat']> = {
  '.qcow2': 'qcow2',
  '.vmdk': 'vmdk',
  '.raw': 'raw',
  '.img': 'raw',
};

const IMPORTABLE_VMDK = ['monolithicSparse', 'streamOptimized'];

/** Checks that a file to import is what its caller and its name say, and holds no outside reference. */
export async function inspectImport(
  sourcePath: string,
  declared: ImportImage['sourceFormat'],
): Promise<qemuImg.ImageInfo> {
  if (!isAbsolute(sourcePath)) {
    throw new DiskEngineError('DISK.BAD_NAME', 'import needs an absolute path', { sourcePath });
  }
  await stat(sourcePath).catch(() => {
    throw new DiskEngineError('DISK.NOT_FOUND', `no file ${sourcePath}`, { sourcePath });
  });
  const byName = EXTENSION_FORMATS[extname(sourcePath).toLowerCase()];
  if (byName && byName !== declared) {
    throw new DiskEngineError(
      'DISK.FORMAT_MISMATCH',
      `${basename(sourcePath)} is named ${byName}, said to be ${declared}`,
      {
        sourcePath,
        declared,
        byName,
      },
    );
  }
  const probed = await qemuImg.info(sourcePath, undefined);
  if (probed.format !== declared) {
    throw new DiskEngineError(
      'DISK.FORMAT_MISMATCH',
      `${basename(sourcePath)} is ${probed.format}, said to be ${declared}`,
      {
        sourcePath,
        declared,
        probed: probed.format,
      },
    );
  }
  const image = await qemuImg.info(sourcePath, declared);
  if (image.backingFileName !== null) {
    throw new DiskEngineError(
      'DISK.BACKING_OUTSIDE_DATASTORE',
      `${basename(sourcePath)} stands on ${image.backingFileName}`,
      {
        sourcePath,
        backingFileName: image.backingFileName,
      },
    );
  }
  // A qcow2 may read its clusters from any file it names: as foreign as a backing file.
  if (image.dataFileName !== null) {
    throw new DiskEngineError(
      'DISK.BACKING_OUTSIDE_DATASTORE',
      `${basename(sourcePath)} reads its data from ${image.dataFileName}`,
      { sourcePath, dataFileName: image.dataFileName },
    );
  }
  if (declared === 'vmdk') {
    if (!IMPORTABLE_VMDK.includes(image.vmdkCreateType ?? '')) {
      throw new DiskEngineError(
        'DISK.UNSUPPORTED_FORMAT',
        `VMDK ${image.vmdkCreateType} is not imported`,
        {
          sourcePath,
          createType: image.vmdkCreateType,
        },
      );
    }
    if (image.vmdkExtentFileNames.some((name) => basename(name) !== basename(sourcePath))) {
      throw new DiskEngineError('DISK.BACKING_OUTSIDE_DATASTORE', 'VMDK extents outside the file', {
        sourcePath,
        extents: image.vmdkExtentFileNames,
      });
    }
  }
  return image;
}
