import fc from 'fast-check';
import type { ParsedDescriptor } from '../model';
import { parseDescriptor } from './parse-descriptor';
import { WEB_VM } from './testing/described-vms';
import { writeDescriptor } from './write-descriptor';

/**
 * Whatever the bytes, parseDescriptor answers (never throws), answers quickly, and a refusal
 * always carries at least one reason with a code.
 */

const VALID_DESCRIPTORS = [
  writeDescriptor(WEB_VM),
  `<?xml version="1.0"?>
<o:Envelope xmlns:o="http://schemas.dmtf.org/ovf/envelope/2" xmlns:r="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:s="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_StorageAllocationSettingData" xmlns:e="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_EthernetPortAllocationSettingData" xmlns:v="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData">
  <o:References><o:File o:id="f1" o:href="d.qcow2" o:size="1" o:compression="gzip" o:chunkSize="1048576"/></o:References>
  <o:DiskSection><o:Info>d</o:Info><o:Disk o:diskId="d1" o:fileRef="f1" o:capacity="\${size}" o:capacityAllocationUnits="byte * 2^30" o:format="http://www.gnome.org/~markmc/qcow-image-format.html"/></o:DiskSection>
  <o:NetworkSection><o:Info>n</o:Info><o:Network o:name="lan"/></o:NetworkSection>
  <o:DeploymentOptionSection><o:Info>o</o:Info><o:Configuration o:id="a" o:default="true"><o:Label>A</o:Label></o:Configuration><o:Configuration o:id="b"><o:Label>B</o:Label></o:Configuration></o:DeploymentOptionSection>
  <o:VirtualSystemCollection o:id="c">
    <o:Info>c</o:Info>
    <o:ProductSection o:class="x"><o:Info>p</o:Info><o:Property o:key="size" o:type="uint8" o:value="2" o:qualifiers='ValueMap{"2","4"}'/></o:ProductSection>
    <o:VirtualSystem o:id="vm">
      <o:Info>vm</o:Info>
      <o:VirtualHardwareSection><o:Info>h</o:Info>
        <o:System><v:VirtualSystemType>vmx-10 vmx-19</v:VirtualSystemType></o:System>
        <o:Item o:configuration="a"><r:InstanceID>1</r:InstanceID><r:ResourceType>3</r:ResourceType><r:VirtualQuantity>2</r:VirtualQuantity></o:Item>
        <o:Item o:configuration="b"><r:InstanceID>1</r:InstanceID><r:ResourceType>3</r:ResourceType><r:VirtualQuantity>4</r:VirtualQuantity></o:Item>
        <o:Item><r:AllocationUnits>MegaBytes</r:AllocationUnits><r:InstanceID>2</r:InstanceID><r:ResourceType>4</r:ResourceType><r:VirtualQuantity>512</r:VirtualQuantity></o:Item>
        <o:Item><r:InstanceID>3</r:InstanceID><r:ResourceSubType>AHCI</r:ResourceSubType><r:ResourceType>20</r:ResourceType></o:Item>
        <o:Item><r:InstanceID>4</r:InstanceID><r:ResourceType>5</r:ResourceType></o:Item>
        <o:StorageItem><s:HostResource>ovf:/disk/d1</s:HostResource><s:InstanceID>5</s:InstanceID><s:Parent>3</s:Parent><s:ResourceType>17</s:ResourceType></o:StorageItem>
        <o:Item><r:HostResource>ovf:/file/f1</r:HostResource><r:InstanceID>6</r:InstanceID><r:Parent>4</r:Parent><r:ResourceType>15</r:ResourceType></o:Item>
        <o:EthernetPortItem><e:Address>52:54:00:00:00:01</e:Address><e:Connection>lan</e:Connection><e:InstanceID>7</e:InstanceID><e:ResourceType>10</e:ResourceType></o:EthernetPortItem>
      </o:VirtualHardwareSection>
    </o:VirtualSystem>
  </o:VirtualSystemCollection>
</o:Envelope>`,
];

/**
 * Per parse of a small input; the real figure is a few milliseconds, the margin is for a loaded
 * machine. Inputs at the limits (megabytes, 200,000 elements) get their own, larger bound.
 */
const MAX_MILLISECONDS_PER_SMALL_PARSE = 1000;
const MAX_MILLISECONDS_PER_LIMIT_PARSE = 10_000;

function checkAnswer(
  input: Buffer | string,
  options?: Parameters<typeof parseDescriptor>[1],
  maxMilliseconds = MAX_MILLISECONDS_PER_SMALL_PARSE,
): ParsedDescriptor {
  const started = performance.now();
  let result: ParsedDescriptor;
  try {
    result = parseDescriptor(input, options);
  } catch (error) {
    throw new Error(`parseDescriptor threw: ${String(error)}`);
  }
  const elapsed = performance.now() - started;
  if (elapsed > maxMilliseconds) throw new Error(`parseDescriptor took ${elapsed} ms`);
  if (!result.ok) {
    if (result.reasons.length === 0) throw new Error('a refusal without reasons');
    for (const reason of result.reasons) {
      if (
        !/^OVF\.[A-Z_]+$/.test(reason.code) ||
        typeof reason.detail !== 'string' ||
        reason.detail === ''
      ) {
        throw new Error(`a reason without a code or detail: ${JSON.stringify(reason)}`);
      }
    }
  }
  return result;
}

/** Snippets that push a parser toward its edges: markup openers, entities, DTD pieces, CDATA ends. */
const HOSTILE_SNIPPETS = [
  '<',
  '>',
  '&',
  '&amp;',
  '&lol;',
  '&#0;',
  '&#x110000;',
  '<!DOCTYPE Envelope [<!ENTITY a "b">]>',
  '<!ENTITY x SYSTEM "file:///etc/passwd">',
  ']]>',
  '<![CDATA[',
  '<?xml version="1.0"?>',
  '<!--',
  '-->',
  '"',
  "'",
  '</Envelope>',
  '<Item>',
  'xmlns:ovf="urn:other"',
  'ovf:required="true"',
  '<x:y/>',
  '\u0000',
  '\ud800',
  '\uffff',
  '99999999999999999999999',
  '-1',
];

type Mutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'flip'; at: number; mask: number }
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'delete'; at: number; length: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('flip' as const),
    at: fc.nat(),
    mask: fc.integer({ min: 1, max: 255 }),
  }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    text: fc.oneof(fc.constantFrom(...HOSTILE_SNIPPETS), fc.string({ maxLength: 20 })),
  }),
  fc.record({
    kind: fc.constant('delete' as const),
    at: fc.nat(),
    length: fc.integer({ min: 1, max: 40 }),
  }),
);

function applyMutation(bytes: Buffer, change: Mutation): Buffer {
  const at = bytes.length === 0 ? 0 : change.at % bytes.length;
  switch (change.kind) {
    case 'truncate':
      return bytes.subarray(0, at);
    case 'flip': {
      const flipped = Buffer.from(bytes);
      if (flipped.length > 0) flipped[at] ^= change.mask;
      return flipped;
    }
    case 'insert':
      return Buffer.concat([bytes.subarray(0, at), Buffer.from(change.text), bytes.subarray(at)]);
    case 'delete':
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + change.length)]);
  }
}

describe('parseDescriptor on arbitrary input', () => {
  it('the descriptors the mutations start from are accepted', () => {
    for (const xml of VALID_DESCRIPTORS) expect(checkAnswer(xml).ok).toBe(true);
  });

  it('answers any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (text) => {
        checkAnswer(text);
      }),
      { numRuns: 500 },
    );
  });

  it('answers any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        checkAnswer(Buffer.from(bytes));
      }),
      { numRuns: 500 },
    );
  });

  it('answers any XML-shaped text built from hostile snippets', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.constantFrom(
            ...HOSTILE_SNIPPETS,
            '<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1">',
            '<a>',
            '</a>',
            'text',
          ),
          { maxLength: 40 },
        ),
        (parts) => {
          checkAnswer(parts.join(''));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('answers every mutation of valid descriptors (truncation, byte flips, insertions, deletions)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...VALID_DESCRIPTORS),
        fc.array(mutation, { minLength: 1, maxLength: 5 }),
        fc.option(fc.constantFrom('a', 'b', 'c')),
        (xml, changes, option) => {
          const mutated = changes.reduce(applyMutation, Buffer.from(xml));
          checkAnswer(mutated, option === null ? undefined : { deploymentOption: option });
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('answers inputs at the size limits in bounded time', () => {
    const checkAtLimit = (input: string): ParsedDescriptor =>
      checkAnswer(input, undefined, MAX_MILLISECONDS_PER_LIMIT_PARSE);
    const manyElements = `<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1">${'<a/>'.repeat(300_000)}</Envelope>`;
    expect(checkAtLimit(manyElements)).toEqual({
      ok: false,
      reasons: [expect.objectContaining({ code: 'OVF.TOO_MANY_ELEMENTS' })],
    });
    const deep = `${'<a>'.repeat(500_000)}`;
    expect(checkAtLimit(deep)).toEqual({
      ok: false,
      reasons: [expect.objectContaining({ code: 'OVF.TOO_DEEP' })],
    });
    const manyEntities = `<a>${'&x;'.repeat(1_000_000)}</a>`;
    const reasons = checkAtLimit(manyEntities);
    expect(reasons.ok ? [] : reasons.reasons.at(-1)?.code).toBe('OVF.TOO_MANY_REASONS');
    const manyIssues = VALID_DESCRIPTORS[0].replace(
      '</VirtualHardwareSection>',
      `${'<Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>17</rasd:ResourceType></Item>'.repeat(20_000)}</VirtualHardwareSection>`,
    );
    const issues = checkAtLimit(manyIssues);
    expect(issues.ok ? 0 : issues.reasons.length).toBeLessThanOrEqual(201);
  }, 60_000);
});
