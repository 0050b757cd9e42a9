import { Body, Controller, Param, Post, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Requires, Validate } from '@dolly/platform';
import type { Response } from 'express';
import { CommandRunner } from '../../shared/command-runner';
import { ApiCommand, ApiJsonBody, ApiProblems } from '../../shared/openapi';
import { Context, type RequestContext } from '../../shared/request-context';
import { cloneRequest, runClone } from '../../vms/clone-vm/clone-vm.http.controller';
import { TemplateIdParam } from '../template-id.param';
import { DeployRequest } from './deploy.request';

/** Templates are VMs in the template role (GET /vms?role=template lists them). */
@ApiTags('cloning')
@Controller('templates/:templateId')
export class DeployFromTemplateController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Post('deploy')
  @Requires('vm:clone')
  @ApiOperation({
    summary:
      'Deploy a VM from a template: a straight copy (no snapshot, no consolidation), with hardware overrides.',
  })
  @ApiJsonBody(DeployRequest)
  @ApiCommand({ creates: true })
  @ApiProblems(400, 404, 409, 413, 415, 422)
  deploy(
    @Param('templateId', new Validate(TemplateIdParam)) templateId: string,
    @Body(new Validate(DeployRequest)) body: DeployRequest,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    return runClone(this.runner, this.queries, response, context, {
      operation: 'DeployFromTemplate',
      sourceRole: 'template',
      request: cloneRequest(templateId, 'vm', body),
    });
  }
}
