/**
 * Export a VM or template as an OVA, streamed to the API as it is produced: its disks staged as
 * streamOptimized VMDKs by the engine, a descriptor written from the job's description of the VM,
 * then the archive (descriptor, SHA-256 manifest, disks) written straight into the API's GET. A
 * disk file too large for one USTAR member goes in chunks (ovf:chunkSize).
 * The staging is released whatever happens: an export leaves nothing on the datastore.
 */
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ExportJob, JobOutcome } from '@dolly/domain';
import { USTAR_MAX_MEMBER_BYTES, writeDescriptor, writeOva } from '@dolly/ovf';
import { answerProblem } from '../transfers/transfer-answers';
import { type JobContext, operationId } from './job-context';

/** When a staged file is split into chunks (ovf:chunkSize), and into chunks of what size. */
export interface OvaChunking {
  /** A file larger than this is chunked. */
  maxMemberBytes: number;
  chunkBytes: number;
}

/**
 * A file is chunked only when it must: when one USTAR member cannot state its size. Its chunks are
 * 4 GiB, the largest power of two a member holds (8 GiB - 1): the fewest members and manifest
 * lines, each chunk ending on a tar block. A file that is not chunked is hashed once while staged
 * (the engine digests ranges only of files over maxMemberBytes).
 */
export const OVA_CHUNKING: OvaChunking = {
  maxMemberBytes: USTAR_MAX_MEMBER_BYTES,
  chunkBytes: 4 * 1024 ** 3,
};

export async function exportPackage(
  job: ExportJob,
  context: JobContext,
  chunking: OvaChunking = OVA_CHUNKING,
): Promise<JobOutcome> {
  const stagingBytes = job.disks.reduce((sum, disk) => sum + disk.capacityBytes, 0);
  const staged = await context.engine.stageExport(
    {
      operationId: operationId(context, 'stage-export'),
      datastoreId: job.datastoreId,
      disks: job.disks.map((disk) => ({ diskId: disk.diskId, layerId: disk.layerId })),
      // Known before any byte is sent: the manifest, second in the archive, lists each chunk.
      digestRangeBytes: chunking.chunkBytes,
      digestRangesOverBytes: chunking.maxMemberBytes,
    },
    {
      signal: context.signal,
      onProgress: (p) =>
        context.progress('stage', Math.min(p.doneBytes, stagingBytes), stagingBytes),
    },
  );
  try {
    const base = packageBaseName(job.vm.name);
    const files = job.disks.map((disk, index) => {
      const file = staged.files.find((f) => f.diskId === disk.diskId);
      if (!file) throw new Error(`The engine staged no file for disk ${disk.diskId}`);
      let chunks: { chunkBytes: number; sha256: string[] } | undefined;
      if (file.sizeBytes > chunking.maxMemberBytes) {
        if (!file.rangeSha256)
          throw new Error(`The engine gave no range digests for disk ${disk.diskId}`);
        chunks = { chunkBytes: chunking.chunkBytes, sha256: file.rangeSha256 };
      }
      return { disk, file, chunks, name: `${base}-disk${index + 1}.vmdk` };
    });
    const descriptor = writeDescriptor({
      name: job.vm.name,
      hardwareVersion: job.vm.hardware.hardwareVersion,
      guestOs: job.vm.hardware.guestOs,
      vcpus: job.vm.hardware.vcpus,
      memoryBytes: job.vm.hardware.memoryBytes,
      disks: files.map(({ disk, file, chunks, name }) => ({
        diskId: disk.diskId,
        label: disk.label,
        capacityBytes: disk.capacityBytes,
        fileName: name,
        fileSizeBytes: file.sizeBytes,
        fileChunkBytes: chunks?.chunkBytes,
      })),
      nics: job.vm.nics.map((nic) => ({ network: nic.network, macAddress: nic.macAddress })),
    });
    const packageBytes = files.reduce((sum, { file }) => sum + file.sizeBytes, 0);
    const download = await context.transfer.open('download', job.transfer.tokenSha256);
    const { response } = download.exchange;
    try {
      let sent = 0;
      const counted = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          // Said with the first byte, so that a failure before it is answered as a problem.
          if (sent === 0 && !response.headersSent)
            response.writeHead(200, {
              'Content-Type': 'application/x-tar',
              'Cache-Control': 'no-store',
            });
          sent += chunk.length;
          context.progress('send', Math.min(sent, packageBytes), packageBytes);
          done(null, chunk);
        },
      });
      await pipeline(
        writeOva({
          descriptorName: `${base}.ovf`,
          descriptor,
          files: files.map(({ file, chunks, name }) => ({
            name,
            path: file.path,
            sizeBytes: file.sizeBytes,
            sha256: file.sha256,
            chunks,
          })),
        }),
        counted,
        response,
        { signal: context.signal },
      );
      context.progress('done', packageBytes, packageBytes);
    } catch (error) {
      // Before a byte went out the API learns why; after, the archive it got is cut short.
      if (!response.headersSent)
        answerProblem(
          response,
          500,
          'EXPORT.FAILED',
          `The export failed: ${(error as Error).message}`,
        );
      else response.destroy();
      throw error;
    } finally {
      download.close();
    }
  } finally {
    await staged.release();
  }
  return { kind: 'export' };
}

/**
 * The name of the package's files, from the VM's name: a VM may be called anything, a member of
 * the archive may not (no path separator, no leading dot, within USTAR's 100 characters).
 */
export function packageBaseName(vmName: string): string {
  const safe = vmName
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._-]+/, '')
    .slice(0, 80);
  return safe.length > 0 ? safe : 'vm';
}
