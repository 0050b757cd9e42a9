import { Controller, Get, Param, Put, Req, Res } from '@nestjs/common';
import { Public } from '@dolly/platform';
import type { Request, Response } from 'express';
import { discardRest } from '@dolly/platform';
import { answerProblem } from './transfer-answers';
import { type TransferDirection, TransferRegistry } from './transfer-registry';

const TASK_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Where the API moves a package's bytes to or from the worker running its task: `PUT` an import's
 * upload, `GET` an export's OVA. Not behind the platform's tokens: the one-time token of the
 * transfer (its digest is in the job) is the only credential, checked by the registry. Once the
 * request is handed over, the attempt reads its body as a stream and answers it.
 */
@Public()
@Controller('transfers')
export class TransfersController {
  constructor(private readonly registry: TransferRegistry) {}

  @Put(':taskId')
  upload(@Param('taskId') taskId: string, @Req() request: Request, @Res() response: Response) {
    this.handOver(taskId, 'upload', request, response);
  }

  @Get(':taskId')
  download(@Param('taskId') taskId: string, @Req() request: Request, @Res() response: Response) {
    this.handOver(taskId, 'download', request, response);
  }

  private handOver(
    taskId: string,
    direction: TransferDirection,
    request: Request,
    response: Response,
  ): void {
    const refusal = TASK_ID.test(taskId)
      ? this.registry.claim(taskId, direction, request.headers.authorization, {
          request,
          response,
        })
      : ({ status: 404, code: 'TRANSFER.NOT_OPEN', detail: 'No transfer is open here' } as const);
    if (!refusal) return;
    answerProblem(response, refusal.status, refusal.code, refusal.detail);
    discardRest(request);
  }
}
