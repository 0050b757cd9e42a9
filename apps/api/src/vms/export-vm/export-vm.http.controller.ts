import { Controller, Get, Param, Query, Req, Res } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import {
  type AuthenticatedRequest,
  PROBLEM_CONTENT_TYPE,
  Requires,
  Validate,
  sendProblem,
} from '@dolly/platform';
import type { Response } from 'express';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { streamIdOf } from '@dolly/domain';
import { Execution } from '../../shared/command-execution';
import { ApiProblems, asOpenApi } from '../../shared/openapi';
import { Problem } from '../../shared/problem.representation';
import { WaitSlots } from '../../shared/request-limits';
import { requestContext } from '../../shared/request-context';
import { WorkerTransfers, newTransferToken, workerRefusal } from '../../shared/worker-transfer';
import { GetTask } from '../../tasks/task.queries';
import { VmIdParam } from '../vm-id.param';
import { type ExportDecided, ExportVmCommand } from './export-vm.handler';
import { ExportVmQuery } from './export-vm.request';

/** `attachment; filename=...` safe for any VM name: ASCII fallback, and the name itself (RFC 6266/8187). */
export function attachmentFor(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  // RFC 8187's attr-char has no ' ( ) * !, which encodeURIComponent leaves as they are.
  const encoded = encodeURIComponent(`${name}.ova`).replace(
    /['()*!]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}.ova"; filename*=UTF-8''${encoded}`;
}

@ApiTags('vms')
@Controller('vms/:vmId')
export class ExportVmController {
  constructor(
    private readonly bus: CommandBus,
    private readonly queries: QueryBus,
    private readonly transfers: WorkerTransfers,
    private readonly slots: WaitSlots,
  ) {}

  @Get('export.ova')
  @Requires('vm:clone')
  @ApiBearerAuth()
  @ApiOperation({
    summary: 'Export a VM or template as an OVA, streamed as it is written.',
    description:
      'Descriptor, SHA-256 manifest and streamOptimized VMDK disks, in one USTAR archive that other tools (ovftool, vSphere, qemu-img) read. ' +
      'A powered-off VM or a template is exported as it is; a running VM only from one of its snapshots (snapshotId), else 409 VM.NOT_POWERED_OFF. ' +
      'The VM takes no other exclusive operation meanwhile; the archive’s last bytes come once the export is over, so a caller that has them can use the VM at once. An error before the first byte is a problem; closing the connection cancels the export.',
  })
  @ApiProduces('application/x-tar')
  @ApiResponse({
    status: 200,
    description: 'The OVA, streamed (Content-Disposition names <vm name>.ova).',
    headers: {
      'X-Dolly-Task-Id': {
        description: 'The export task (GET /tasks/{id}): how the export ended.',
        schema: { type: 'string', format: 'uuid' },
      },
    },
    content: { 'application/x-tar': { schema: { type: 'string', format: 'binary' } } },
  })
  @ApiProblems(400, 404, 409, 422)
  @ApiResponse({
    status: 503,
    description:
      'No worker was ready for the export in time (TRANSFER.WORKER_NOT_READY): nothing was changed.',
    content: { [PROBLEM_CONTENT_TYPE]: { schema: asOpenApi(Problem) } },
  })
  async export(
    @Param('vmId', new Validate(VmIdParam)) vmId: string,
    @Query(new Validate(ExportVmQuery)) query: ExportVmQuery,
    @Req() request: AuthenticatedRequest,
    @Res() response: Response,
  ): Promise<void> {
    const context = requestContext(request);
    const release = this.slots.take(context.principal);
    const caller = this.transfers.watchCaller(response, context);
    let taskId: string | null = null;
    try {
      const { token, tokenSha256 } = newTransferToken();
      const execution = new Execution(context, 'ExportVm');
      const outcome = (await this.bus.execute(
        new ExportVmCommand(execution, { vmId, snapshotId: query.snapshotId ?? null, tokenSha256 }),
      )) as ExportDecided;
      taskId = execution.taskId;
      caller.taskIs(taskId);
      const transfer = await this.transfers.opened(taskId, context);
      const worker = await this.transfers.download(transfer, taskId, token, caller.signal);
      if (worker.status !== 200) {
        const refusal = await workerRefusal(taskId, 'download', worker);
        void this.transfers.cancel(taskId, context);
        return sendProblem(response, request, refusal);
      }
      response.status(200);
      response.setHeader('content-type', 'application/x-tar');
      response.setHeader('content-disposition', attachmentFor(outcome.result.name));
      response.setHeader('x-dolly-task-id', taskId);
      if (worker.headers['content-length'])
        response.setHeader('content-length', worker.headers['content-length']);
      await pipeline(
        worker.body,
        lastBytesOnceOver(() => this.exportOver(taskId!, vmId)),
        response,
      );
    } catch (error) {
      // Past the first byte there is no problem to answer with: the archive is cut short, which
      // the caller sees as a broken transfer (and the task ends cancelled or failed).
      if (!response.headersSent) throw error;
      response.destroy();
      if (taskId) void this.transfers.cancel(taskId, context);
    } finally {
      caller.stop();
      release();
    }
  }

  /**
   * Resolves once the export task ended well and the VM shows it (no longer busy exporting);
   * throws otherwise: the worker sent every byte, but the archive is not one to keep.
   */
  private async exportOver(taskId: string, vmId: string): Promise<void> {
    const over = await this.transfers.taskOver(
      taskId,
      streamIdOf({ kind: 'vm', id: vmId }),
      SETTLE_MS,
    );
    const task = await this.queries.execute(new GetTask(taskId));
    if (!over.ended || !over.projected || task.status !== 'succeeded')
      throw new Error(`Export task ${taskId} is ${task.status}: the archive is not complete`);
  }
}

/** How long the last bytes of an export wait, once the worker sent them, for its task to be over. */
const SETTLE_MS = 60_000;

/**
 * Passes the archive on but holds its last chunk until `over` resolves: a caller that has the
 * whole OVA finds the export over (the VM free for its next operation), and one whose export
 * failed at the very end gets a cut transfer, not a complete-looking archive.
 */
function lastBytesOnceOver(over: () => Promise<void>): Transform {
  let held: Buffer | null = null;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const previous = held;
      held = chunk;
      done(null, previous ?? undefined);
    },
    flush(done) {
      over().then(
        () => done(null, held ?? undefined),
        (error: unknown) => done(error as Error),
      );
    },
  });
}
