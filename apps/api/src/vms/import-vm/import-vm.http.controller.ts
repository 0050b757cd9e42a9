import { Controller, Inject, Post, Req, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { DomainError, RuleViolationError, streamIdOf } from '@dolly/domain';
import {
  type AuthenticatedRequest,
  DOLLY_CONFIG,
  discardRest,
  PROBLEM_CONTENT_TYPE,
  type ProblemDetails,
  MAX_BODY_BYTES,
  Requires,
  problem,
  sendProblem,
  validateRequest,
} from '@dolly/platform';
import { type DollyConfig } from '@dolly/config';
import type { Response } from 'express';
import type { CommandAccepted } from '../../shared/command-accepted.representation';
import { Execution } from '../../shared/command-execution';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiProblems, asOpenApi } from '../../shared/openapi';
import { Problem } from '../../shared/problem.representation';
import { WaitSlots } from '../../shared/request-limits';
import { requestContext, type RequestContext } from '../../shared/request-context';
import { resourcePath, taskPath } from '../../shared/resource-paths';
import {
  WorkerTransfers,
  newTransferToken,
  readJsonAnswer,
  workerRefusal,
} from '../../shared/worker-transfer';
import { GetTask } from '../../tasks/task.queries';
import { GetVm } from '../queries/vm.queries';
import { packageReasonToError } from './import-definition';
import { type ImportDecided, ImportVmCommand } from './import-vm.handler';
import { ImportFromPathRequest, ImportTarget } from './import-vm.request';
import { confinedPackagePath, descriptorAtPath } from './package-source';
import { UploadSource, readUploadHead } from './upload-head';

/**
 * The platform leaves this route's body alone (streamedBodyPaths): an upload is streamed to the
 * worker, and a JSON body is read here, as bounded as the platform reads every other one.
 */
export const IMPORT_PATH = '/vms/import';

/** The JSON body of an import by path, read as the platform reads JSON: bounded, every fault a problem. */
async function jsonBody(
  request: AuthenticatedRequest,
): Promise<{ body: unknown } | { problem: ProblemDetails }> {
  if (!request.is(['application/json', 'application/*+json']))
    return {
      problem: problem(
        415,
        'REQUEST.UNSUPPORTED_MEDIA_TYPE',
        `Send JSON (Content-Type: application/json) naming a package under an import root, or multipart/form-data uploading one, not ${request.headers['content-type'] ?? 'nothing'}`,
      ),
    };
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES)
      return {
        problem: problem(
          413,
          'REQUEST.TOO_LARGE',
          `Request bodies are limited to ${MAX_BODY_BYTES} bytes (upload a package as multipart/form-data)`,
        ),
      };
    chunks.push(chunk);
  }
  try {
    return { body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown };
  } catch (error) {
    return {
      problem: problem(
        400,
        'REQUEST.MALFORMED_JSON',
        `The body is not valid JSON: ${(error as Error).message}`,
      ),
    };
  }
}

/** How long an upload's answer waits, after the worker took every byte, for the VM to be shown. */
const SETTLE_MS = 60_000;

@ApiTags('vms')
@Controller('vms')
export class ImportVmController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
    private readonly transfers: WorkerTransfers,
    private readonly slots: WaitSlots,
    @Inject(DOLLY_CONFIG) private readonly config: DollyConfig,
  ) {}

  @Post('import')
  @Requires('inventory:write')
  @ApiOperation({
    summary: 'Import an OVF package (OVA, or OVF and its files) as a VM or template.',
    description:
      'application/json: a package under an import root (source.path), read by a worker; answered as every command (202 with the task, or with Prefer: wait the VM). ' +
      'multipart/form-data: the field spec (the same target, JSON) first, then one .ova file part, or the .ovf part followed by its files by name. ' +
      'The upload is streamed to the worker importing it (never buffered whole) and answered once it is read to its end: 201 with the VM, or 422 with every reason the package was refused. ' +
      'Before anything is decided, the descriptor, the caller’s choices (network mapping, deployment option, properties) and the destination (host hardware version, vCPUs, memory, datastore space) are checked: every reason in one problem. ' +
      'A refused package leaves no VM, no disk and no event but its task’s failure.',
    requestBody: {
      required: true,
      content: {
        'application/json': { schema: asOpenApi(ImportFromPathRequest) },
        'multipart/form-data': {
          schema: {
            type: 'object',
            required: ['spec'],
            properties: {
              spec: {
                ...asOpenApi(ImportTarget),
                description: 'The import target, as JSON: first.',
              },
              package: {
                type: 'array',
                items: { type: 'string', format: 'binary' },
                description:
                  'One .ova; or the .ovf first, then its manifest, certificate and files, each part named as the descriptor names it.',
              },
            },
          },
          encoding: { spec: { contentType: 'application/json' } },
        },
      },
    },
  })
  @ApiCommand({ creates: true })
  @ApiProblems(400, 409, 413, 415, 422)
  @ApiResponse({
    status: 503,
    description:
      'No worker was ready for the upload in time (TRANSFER.WORKER_NOT_READY): nothing was changed.',
    content: { [PROBLEM_CONTENT_TYPE]: { schema: asOpenApi(Problem) } },
  })
  async import(@Req() request: AuthenticatedRequest, @Res() response: Response): Promise<void> {
    if (request.is('multipart/form-data') === 'multipart/form-data')
      return this.importUpload(request, response);
    const read = await jsonBody(request);
    if ('problem' in read) {
      response.setHeader('connection', 'close');
      return sendProblem(response, request, read.problem);
    }
    request.body = read.body;
    const context = requestContext(request);
    const body = validateRequest(ImportFromPathRequest, request.body);
    const { source, ...target } = body;
    const path = await confinedPackagePath(source.path, this.config.importRoots);
    const descriptor = await descriptorAtPath(path, source.path.split('/').at(-1)!);
    const command = new ImportVmCommand(new Execution(context, 'ImportVm'), {
      target,
      descriptor,
      source: { kind: 'path', path },
    });
    return this.runner.run(
      response,
      command,
      (outcome) => this.queries.execute(new GetVm(outcome.target.id, context.principal)),
      { creates: true },
    );
  }

  /**
   * An upload: the spec and the descriptor are read and checked, the import decided, and once
   * the worker running it opens its transfer the whole request (the bytes read so far, then the
   * rest as the worker takes it) goes to the worker, whose verdict is the answer.
   */
  private async importUpload(request: AuthenticatedRequest, response: Response): Promise<void> {
    const context = requestContext(request);
    const release = this.slots.take(context.principal);
    const caller = this.transfers.watchCaller(response, context);
    let taskId: string | null = null;
    const upload = new UploadSource(request);
    try {
      const contentType = request.headers['content-type']!;
      const head = await readUploadHead(upload, contentType);
      const target = validateRequest(ImportTarget, head.spec, 'body', '/spec');
      const { token, tokenSha256 } = newTransferToken();
      const execution = new Execution(context, 'ImportVm');
      // A retry of an upload stands for the same import when its spec and package are the same:
      // it is answered as the first was accepted (its task), and its bytes are not read.
      const keyed = await this.runner.keyedAnswer(execution, {
        spec: head.spec,
        packageName: head.descriptor.packageName,
        descriptorSha256: head.descriptor.sha256,
      });
      if (keyed?.stored) return this.runner.sendReplayed(response, keyed.stored);
      const decided = await this.runner.executeKeyed<ImportDecided>(
        new ImportVmCommand(execution, {
          target,
          descriptor: head.descriptor,
          source: { kind: 'upload', transfer: { tokenSha256 } },
        }),
        keyed,
      );
      if ('replayed' in decided) return this.runner.sendReplayed(response, decided.replayed);
      const { outcome } = decided;
      taskId = execution.taskId;
      caller.taskIs(taskId);
      const transfer = await this.transfers.opened(taskId, context);
      const worker = await this.transfers.upload(
        transfer,
        taskId,
        token,
        head.body,
        { contentType, contentLength: request.headers['content-length'] },
        caller.signal,
      );
      if (worker.status === 422) {
        const refusal = (await readJsonAnswer(worker.body)) as {
          detail?: string;
          reasons?: { code: string; detail: string; at?: string }[];
          errors?: { code: string; detail: string; at?: string }[];
        };
        const reasons = refusal.reasons ?? refusal.errors ?? [];
        throw new RuleViolationError(
          'IMPORT.REFUSED',
          `${head.descriptor.packageName} cannot be imported: ${refusal.detail ?? `${reasons.length} reasons`}`,
          reasons.map(packageReasonToError),
        );
      }
      if (worker.status !== 200)
        return sendProblem(response, request, await workerRefusal(taskId, 'upload', worker));
      await readJsonAnswer(worker.body);
      await this.answerImported(response, context, taskId, outcome);
    } catch (error) {
      // A refusal the task itself reports ends it; anything else (the worker unreachable, a
      // broken upload) must not leave it waiting.
      if (taskId && !(error instanceof DomainError)) void this.transfers.cancel(taskId, context);
      throw error;
    } finally {
      caller.stop();
      release();
      // Whatever of the upload is left unread is not wanted: it is read and dropped (bounded) so
      // that the client, still sending, gets to read why.
      if (!request.readableEnded)
        response.once('finish', () => discardRest(request, upload.chunks));
    }
  }

  /** The worker took the package: the task ends (its outcome decided), then the VM is shown. */
  private async answerImported(
    response: Response,
    context: RequestContext,
    taskId: string,
    outcome: ImportDecided,
  ): Promise<void> {
    const vmId = outcome.result.vmId;
    const { ended, projected, version } = await this.transfers.taskOver(
      taskId,
      streamIdOf({ kind: 'vm', id: vmId }),
      SETTLE_MS,
      outcome.streamVersion,
    );
    const task = await this.queries.execute(new GetTask(taskId));
    if (ended && task.status !== 'succeeded') {
      const code = task.error?.code ?? 'IMPORT.FAILED';
      const detail = task.error?.message ?? `Task ${taskId} ${task.status}`;
      throw new RuleViolationError(
        code,
        detail,
        task.error?.reasons.length ? task.error.reasons : [{ code, detail }],
      );
    }
    const body: CommandAccepted = {
      taskId,
      status: projected ? 'succeeded' : 'queued',
      changed: true,
      projected,
      target: { type: 'vm', id: vmId, version },
      links: { task: taskPath(taskId), target: resourcePath('vm', vmId) },
      task,
      ...(projected
        ? { resource: await this.queries.execute(new GetVm(vmId, context.principal)) }
        : {}),
    };
    response
      .status(projected ? 201 : 202)
      .setHeader('location', projected ? resourcePath('vm', vmId) : taskPath(taskId))
      .json(body);
  }
}
