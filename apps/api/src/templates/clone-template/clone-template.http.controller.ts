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
import { CloneTemplateRequest } from './clone-template.request';

/** Templates are VMs in the template role (GET /vms?role=template lists them). */
@ApiTags('cloning')
@Controller('templates/:templateId')
export class CloneTemplateController {
  constructor(
    private readonly runner: CommandRunner,
    private readonly queries: QueryBus,
  ) {}

  @Post('clone')
  @Requires('vm:clone')
  @ApiOperation({ summary: 'Clone a template to a new template (a full copy, or linked to it).' })
  @ApiJsonBody(CloneTemplateRequest)
  @ApiCommand({ creates: true })
  @ApiProblems(400, 404, 409, 413, 415, 422)
  clone(
    @Param('templateId', new Validate(TemplateIdParam)) templateId: string,
    @Body(new Validate(CloneTemplateRequest)) body: CloneTemplateRequest,
    @Context() context: RequestContext,
    @Res() response: Response,
  ): Promise<void> {
    return runClone(this.runner, this.queries, response, context, {
      operation: 'CloneTemplate',
      sourceRole: 'template',
      request: cloneRequest(templateId, 'template', body),
    });
  }
}
