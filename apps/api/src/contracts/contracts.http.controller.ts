import { Controller, Get, Inject, Param, ParseIntPipe } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { type DollyConfig } from '@dolly/config';
import { asyncApiDocument, eventSchemaDocument } from '@dolly/contracts';
import { NotFoundError } from '@dolly/domain';
import { DOLLY_CONFIG, Public } from '@dolly/platform';
import { version } from '../../../../package.json';

/** Published contracts: what another service needs to consume Dolly's topics without its code. */
@ApiTags('contracts')
@Controller()
export class ContractsController {
  constructor(@Inject(DOLLY_CONFIG) private readonly config: DollyConfig) {}

  @Get('asyncapi.json')
  @Public()
  @ApiOperation({
    summary: 'AsyncAPI 3.0 document of the Kafka topics and every event schema version.',
  })
  asyncApi(): Record<string, unknown> {
    return asyncApiDocument({
      version,
      brokers: this.config.kafkaBrokers,
      prefix: this.config.kafkaPrefix,
      // How this installation's brokers want clients to log in: as Dolly itself does.
      security: this.config.kafkaSasl
        ? { mechanism: this.config.kafkaSasl.mechanism, tls: this.config.kafkaTls !== undefined }
        : null,
    });
  }

  @Get('schemas/events/:type/:version')
  @Public()
  @ApiOperation({
    summary: "JSON Schema of one event type's data at one version (ce_dataschema points here).",
  })
  eventSchema(
    @Param('type') type: string,
    @Param('version', ParseIntPipe) schemaVersion: number,
  ): Record<string, unknown> {
    const schema = eventSchemaDocument(type, schemaVersion);
    if (!schema)
      throw new NotFoundError(
        'SCHEMA.NOT_FOUND',
        `No event type ${type} at version ${schemaVersion}`,
      );
    return schema;
  }
}
