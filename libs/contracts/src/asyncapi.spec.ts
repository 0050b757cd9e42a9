import { Parser } from '@asyncapi/parser';
import { asyncApiDocument } from './asyncapi';

interface Server {
  protocol: string;
  security?: { $ref: string }[];
  description?: string;
}
interface Document {
  servers: Record<string, Server>;
  components: { securitySchemes?: Record<string, { type: string; description: string }> };
}

type Options = Partial<Parameters<typeof asyncApiDocument>[0]>;

/** The document as JSON, as the API serves it. */
const jsonOf = (options: Options): ReturnType<typeof JSON.parse> =>
  JSON.parse(
    JSON.stringify(asyncApiDocument({ version: '1.2.3', brokers: ['kafka-1:9092'], ...options })),
  );

const documentOf = (options: Options = {}) => jsonOf(options) as Document;

const schemeOf = (document: Document, server: Server) => {
  const name = server.security?.[0]?.$ref.replace('#/components/securitySchemes/', '') ?? '';
  return document.components.securitySchemes?.[name];
};

describe('the AsyncAPI document’s security', () => {
  it('tells consumers to log in with SASL/SCRAM-SHA-512 by default (the local broker)', () => {
    const document = documentOf();
    const server = document.servers.broker0;

    expect(server.protocol).toBe('kafka');
    expect(server.security).toHaveLength(1);
    expect(schemeOf(document, server)?.type).toBe('scramSha512');
  });

  it('says which principal may do what: Dolly’s writes, an integrator’s only reads the event topics', () => {
    const document = documentOf({ prefix: 'prod.' });
    const description = schemeOf(document, document.servers.broker0)?.description ?? '';

    expect(description).toMatch(/Dolly's own principal.*writes/);
    expect(description).toMatch(/read-only/);
    expect(description).toMatch(/cannot produce/);
    expect(description).toContain('prod.dolly.vm.events');
    expect(description).toContain('integrator.');
  });

  it('names the mechanism and the TLS the installation uses', () => {
    const document = documentOf({ security: { mechanism: 'scram-sha-256', tls: true } });
    const server = document.servers.broker0;

    const plain = documentOf({ security: { mechanism: 'plain', tls: true } });

    expect(server.protocol).toBe('kafka-secure');
    expect(schemeOf(document, server)?.type).toBe('scramSha256');
    expect(schemeOf(plain, plain.servers.broker0)?.type).toBe('plain');
  });

  it('has no security section for a Kafka without authentication', () => {
    const document = documentOf({ security: null });

    expect(document.servers.broker0.security).toBeUndefined();
    expect(document.components.securitySchemes).toBeUndefined();
  });

  it.each([
    ['the default', {}],
    ['SCRAM-SHA-256 over TLS', { security: { mechanism: 'scram-sha-256', tls: true } as const }],
    ['no authentication', { security: null }],
  ])('is valid AsyncAPI 3.0 with %s', async (_, options) => {
    const diagnostics = await new Parser().validate(jsonOf(options));
    expect(diagnostics.filter((d) => d.severity === 0)).toEqual([]);
  });
});
