import { PackageRefused, type PackageReason } from '../model';

/**
 * One file of a package as a source delivers it, in package order. Sources yield the next member
 * only once this one's content has been read to its end (or they drain it themselves), so a
 * package of any size is read with bounded memory.
 */
export interface PackageMember {
  name: string;
  /** Bytes the source says the member holds (the tar header, the file's size); null: unknown. */
  sizeBytes: number | null;
  /** Read at most once. */
  content: AsyncIterable<Buffer>;
}

export interface MemberLimits {
  /** Members in one package (descriptor, manifest, certificate and every file or chunk). */
  maxMembers: number;
  /** Characters of a member name; USTAR without its prefix field allows 100 bytes anyway. */
  maxNameLength: number;
}

export const DEFAULT_MEMBER_LIMITS: MemberLimits = { maxMembers: 1000, maxNameLength: 255 };

/**
 * Why a member name cannot be a file of a package. A package is flat (OVA members and OVF
 * References are names in one folder), so any directory part is refused, not only `..`: a name
 * that is refused here can never reach a path join.
 */
export function memberNameReasons(
  name: string,
  limits: Pick<MemberLimits, 'maxNameLength'> = DEFAULT_MEMBER_LIMITS,
): PackageReason[] {
  const at = name.length > 200 ? `${name.slice(0, 200)}…` : name;
  if (name.length === 0)
    return [{ code: 'PACKAGE.NAME_EMPTY', detail: 'a member has an empty name', at }];
  const reasons: PackageReason[] = [];
  if (name.length > limits.maxNameLength)
    reasons.push({
      code: 'PACKAGE.NAME_TOO_LONG',
      detail: `member name of ${name.length} characters, at most ${limits.maxNameLength}`,
      at,
    });
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name))
    reasons.push({
      code: 'PACKAGE.NAME_CONTROL_CHARACTER',
      detail: `member name ${JSON.stringify(at)} holds a control character`,
      at,
    });
  const segments = name.split(/[/\\]/);
  if (/^[/\\]/.test(name) || /^[a-zA-Z]:/.test(name))
    reasons.push({
      code: 'PACKAGE.PATH_ABSOLUTE',
      detail: `member ${JSON.stringify(at)} is an absolute path`,
      at,
    });
  if (segments.some((segment) => segment === '..' || segment === '.'))
    reasons.push({
      code: 'PACKAGE.PATH_TRAVERSAL',
      detail: `member ${JSON.stringify(at)} names a path out of the package`,
      at,
    });
  else if (segments.length > 1)
    reasons.push({
      code: 'PACKAGE.NAME_HAS_DIRECTORY',
      detail: `member ${JSON.stringify(at)} has a directory part; a package is flat`,
      at,
    });
  return reasons;
}

/** The checks every source applies to the sequence of names: count and duplicates. */
export class MemberNameChecks {
  private readonly seen = new Set<string>();
  readonly reasons: PackageReason[] = [];

  constructor(private readonly limits: MemberLimits = DEFAULT_MEMBER_LIMITS) {}

  /** True when the member may be yielded; false when it is refused (its reasons recorded). */
  admit(name: string): boolean {
    const reasons = memberNameReasons(name, this.limits);
    if (this.seen.has(name))
      reasons.push({
        code: 'PACKAGE.DUPLICATE_MEMBER',
        detail: `member ${JSON.stringify(name)} appears twice`,
        at: name,
      });
    this.seen.add(name);
    if (this.seen.size > this.limits.maxMembers) {
      // Past the bound the source stops: one reason, not one per extra member.
      this.reasons.push({
        code: 'PACKAGE.TOO_MANY_MEMBERS',
        detail: `more than ${this.limits.maxMembers} members`,
        at: name,
      });
      throw new PackageRefused(this.reasons);
    }
    this.reasons.push(...reasons);
    return reasons.length === 0;
  }

  /** Ends a source: the reasons it collected refuse the package. */
  finish(): void {
    if (this.reasons.length > 0) throw new PackageRefused(this.reasons);
  }
}

/** Reads what the consumer left of a member, so the source can go on to the next one. */
export async function drain(content: AsyncIterable<Buffer>): Promise<void> {
  for await (const chunk of content) void chunk;
}
