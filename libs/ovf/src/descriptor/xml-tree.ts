import { SaxesParser, type SaxesTagNS } from 'saxes';
import type { PackageReason } from '../model';

/**
 * A descriptor read into a small element tree by saxes, configured for untrusted input: no DTD is
 * ever processed, no entity but the five predefined ones is ever resolved, and every size is
 * bounded before it can grow. The tree keeps namespace URIs, never prefixes, so the envelope
 * reader matches names the way the OVF schema defines them.
 */

/** Bounds on what a descriptor may hold; past one, parsing stops with a reason. */
export interface DescriptorLimits {
  /** The whole descriptor, as bytes of UTF-8. */
  maxBytes: number;
  maxElements: number;
  /** Nesting depth of elements (the Envelope is depth 1). */
  maxDepth: number;
  /** Characters of one attribute value. */
  maxAttributeLength: number;
  /** Characters of text directly inside one element (a EULA is the longest in practice). */
  maxTextLength: number;
  /** Reasons kept before the rest are summarised in one, so a hostile input cannot flood the answer. */
  maxReasons: number;
}

export const DEFAULT_DESCRIPTOR_LIMITS: DescriptorLimits = {
  maxBytes: 4 * 1024 * 1024,
  maxElements: 200_000,
  maxDepth: 64,
  maxAttributeLength: 64 * 1024,
  maxTextLength: 1024 * 1024,
  maxReasons: 200,
};

export interface XmlElement {
  uri: string;
  local: string;
  /** Keyed by `<namespace URI> <local name>`; an unprefixed attribute has the empty URI. */
  attributes: Map<string, string>;
  children: XmlElement[];
  /** The element's own text and CDATA (not its descendants'). */
  text: string;
  parent: XmlElement | null;
  /** 1-based, among the siblings of the same name: kept so a reason's path costs no sibling scan. */
  position: number;
  /** How many children of each `<uri> <local>` name this element has; null until it has one. */
  childNameCounts: Map<string, number> | null;
}

export type XmlReading = { ok: true; root: XmlElement } | { ok: false; reasons: PackageReason[] };

/** Thrown inside saxes's callbacks to stop reading at once; never leaves this module. */
class StopReading extends Error {}

const PREDEFINED_ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
};

const ENCODINGS_READ_AS_UTF8 = new Set(['utf-8', 'utf8', 'us-ascii', 'ascii']);

export function readXmlTree(input: Buffer | string, limits: DescriptorLimits): XmlReading {
  const byteLength = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.length;
  if (byteLength > limits.maxBytes) {
    return refusal(
      'OVF.TOO_LARGE',
      `the descriptor is ${byteLength} bytes, more than the ${limits.maxBytes} allowed`,
    );
  }
  let text: string;
  if (typeof input === 'string') {
    text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  } else {
    try {
      // fatal: a byte sequence that is not UTF-8 is refused rather than silently replaced.
      text = new TextDecoder('utf-8', { fatal: true }).decode(input);
    } catch {
      return refusal('OVF.MALFORMED', 'the descriptor is not valid UTF-8');
    }
  }

  const reasons: PackageReason[] = [];
  const addReason = (reason: PackageReason): void => {
    if (reasons.length < limits.maxReasons) {
      reasons.push(reason);
    } else if (reasons.length === limits.maxReasons) {
      reasons.push({
        code: 'OVF.TOO_MANY_REASONS',
        detail: `more than ${limits.maxReasons} reasons; the rest are left out`,
      });
      throw new StopReading();
    }
  };

  const parser = new SaxesParser({ xmlns: true, position: true });
  // saxes looks every entity name up here; the table holds the predefined five and nothing else,
  // and remembers the name so a refusal can say which reference it was.
  let lastEntityName = '';
  parser.ENTITIES = new Proxy(Object.create(null) as Record<string, string>, {
    get: (_table, name) => {
      if (typeof name !== 'string') return undefined;
      lastEntityName = name;
      return Object.hasOwn(PREDEFINED_ENTITIES, name) ? PREDEFINED_ENTITIES[name] : undefined;
    },
  });
  const where = (): string => `line ${parser.line}, column ${parser.column + 1}`;
  const stopWith = (code: string, detail: string): never => {
    addReason({ code, detail, at: where() });
    throw new StopReading();
  };

  let root: XmlElement | null = null;
  let current: XmlElement | null = null;
  let depth = 0;
  let elementCount = 0;

  parser.on('xmldecl', (declaration) => {
    const encoding = declaration.encoding?.toLowerCase();
    if (encoding !== undefined && !ENCODINGS_READ_AS_UTF8.has(encoding)) {
      stopWith(
        'OVF.UNSUPPORTED_ENCODING',
        `the descriptor declares encoding ${declaration.encoding}; only UTF-8 is read`,
      );
    }
  });
  parser.on('doctype', () => {
    // saxes never expands what a DTD declares; reading on finds every entity the DTD was for.
    addReason({
      code: 'OVF.DTD_FORBIDDEN',
      detail: 'the descriptor has a DOCTYPE declaration; DTDs are refused and never processed',
      at: where(),
    });
  });
  parser.on('opentag', (tag: SaxesTagNS) => {
    elementCount += 1;
    depth += 1;
    if (elementCount > limits.maxElements) {
      stopWith(
        'OVF.TOO_MANY_ELEMENTS',
        `the descriptor has more than ${limits.maxElements} elements`,
      );
    }
    if (depth > limits.maxDepth) {
      stopWith('OVF.TOO_DEEP', `elements are nested more than ${limits.maxDepth} deep`);
    }
    const attributes = new Map<string, string>();
    for (const attribute of Object.values(tag.attributes)) {
      if (attribute.value.length > limits.maxAttributeLength) {
        stopWith(
          'OVF.ATTRIBUTE_TOO_LONG',
          `attribute ${attribute.name} of ${tag.name} is longer than ${limits.maxAttributeLength} characters`,
        );
      }
      attributes.set(`${attribute.uri} ${attribute.local}`, attribute.value);
    }
    const name = `${tag.uri} ${tag.local}`;
    let position = 1;
    if (current !== null) {
      current.childNameCounts ??= new Map();
      position = (current.childNameCounts.get(name) ?? 0) + 1;
      current.childNameCounts.set(name, position);
    }
    const element: XmlElement = {
      uri: tag.uri,
      local: tag.local,
      attributes,
      children: [],
      text: '',
      parent: current,
      position,
      childNameCounts: null,
    };
    if (current === null) root = element;
    else current.children.push(element);
    current = element;
  });
  // saxes reports a closing tag for self-closing elements too.
  parser.on('closetag', () => {
    depth -= 1;
    current = current?.parent ?? null;
  });
  const appendText = (chunk: string): void => {
    if (current === null) return;
    if (current.text.length + chunk.length > limits.maxTextLength) {
      stopWith(
        'OVF.TEXT_TOO_LONG',
        `the text of ${current.local} is longer than ${limits.maxTextLength} characters`,
      );
    }
    current.text += chunk;
  };
  parser.on('text', appendText);
  parser.on('cdata', appendText);
  parser.on('error', (error) => {
    if (error.message.endsWith('undefined entity.')) {
      // saxes never learns a DTD's entities, so every name but the predefined five lands here.
      const reference = `&${lastEntityName.slice(0, 64)};`;
      addReason({
        code: 'OVF.ENTITY_FORBIDDEN',
        detail: `${reference} is refused: only the five predefined entities are read, no other is resolved`,
        at: where(),
      });
      return;
    }
    // After a well-formedness error saxes's later complaints only echo the first one.
    stopWith(
      'OVF.MALFORMED',
      `the descriptor is not well-formed XML: ${stripPosition(error.message)}`,
    );
  });

  try {
    parser.write(text).close();
  } catch (error) {
    if (!(error instanceof StopReading)) {
      addReasonSafely(reasons, {
        code: 'OVF.MALFORMED',
        detail: `the descriptor could not be read: ${error instanceof Error ? error.message : String(error)}`,
      });
    }
  }
  if (reasons.length > 0) return { ok: false, reasons };
  if (root === null) return refusal('OVF.MALFORMED', 'the descriptor has no root element');
  return { ok: true, root };
}

/** saxes prefixes its messages with `line:column:`; the reason carries that in `at` instead. */
function stripPosition(message: string): string {
  return message.replace(/^[^:]*:\d+:\d+: /, '');
}

function addReasonSafely(reasons: PackageReason[], reason: PackageReason): void {
  if (!reasons.some((existing) => existing.code === 'OVF.TOO_MANY_REASONS')) reasons.push(reason);
}

function refusal(code: string, detail: string): XmlReading {
  return { ok: false, reasons: [{ code, detail }] };
}

/** `/Envelope/DiskSection/Disk[2]`: local names, with a position where siblings share the name. */
export function pathOf(element: XmlElement): string {
  const steps: string[] = [];
  for (let node: XmlElement | null = element; node !== null; node = node.parent) {
    const sameNamed = node.parent?.childNameCounts?.get(`${node.uri} ${node.local}`) ?? 1;
    steps.push(sameNamed > 1 ? `${node.local}[${node.position}]` : node.local);
  }
  return `/${steps.reverse().join('/')}`;
}
