/** The member holding chunk `index` of a chunked file: `<href>.000000000`, `.000000001`, ... */
export function chunkMemberName(href: string, index: number): string {
  return `${href}.${String(index).padStart(9, '0')}`;
}
