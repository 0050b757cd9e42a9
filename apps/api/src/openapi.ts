import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { version } from '../../../package.json';

export const DOCS_PATH = 'docs';

/** The OpenAPI document (/openapi.json) and the interactive docs page (/docs). */
export function setUpOpenApi(app: INestApplication): void {
  const config = new DocumentBuilder()
    .setTitle('Dolly')
    .setDescription(
      'Event-sourced VM provisioning. Commands answer 202 with a task (Location: /tasks/{id}); send ' +
        '`Prefer: wait=5` to get the projected result instead, `Idempotency-Key` to make retries safe, and ' +
        '`If-Match` with an ETag to change an object only if unchanged. Errors are application/problem+json. ' +
        'Events are published to Kafka as CloudEvents: see /asyncapi.json.',
    )
    .setVersion(version)
    .setOpenAPIVersion('3.1.0')
    .addBearerAuth({
      type: 'http',
      scheme: 'bearer',
      description: 'A token the operator configured (DOLLY_API_TOKENS).',
    })
    .build();
  const document = SwaggerModule.createDocument(app, config);
  SwaggerModule.setup(DOCS_PATH, app, document, {
    jsonDocumentUrl: 'openapi.json',
    swaggerOptions: { persistAuthorization: true },
  });
}
