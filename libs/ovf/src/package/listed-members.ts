import {
  DEFAULT_MEMBER_LIMITS,
  MemberNameChecks,
  type MemberLimits,
  type PackageMember,
} from './member';
import { MemberContent } from './member-content';

/** One file of an OVF uploaded as separate files (a multipart part), in the order it came. */
export interface ListedMember {
  name: string;
  content: AsyncIterable<Buffer>;
  sizeBytes?: number;
}

/**
 * The members of an OVF whose files arrive one after the other (the API's multipart parts): the
 * same name checks as an OVA's members. A refused member is drained, never yielded; the reasons
 * refuse the package when the list ends.
 */
export async function* listedMembers(
  members: ListedMember[] | AsyncIterable<ListedMember>,
  limits: MemberLimits = DEFAULT_MEMBER_LIMITS,
): AsyncGenerator<PackageMember, void, undefined> {
  const names = new MemberNameChecks(limits);
  for await (const member of members) {
    const content = new MemberContent(member.content);
    if (names.admit(member.name))
      yield { name: member.name, sizeBytes: member.sizeBytes ?? null, content };
    await content.drain();
  }
  names.finish();
}
