/**
 * A member's institution name, from its registry metadata: the `metadataURI` the admin wrote on
 * chain with `addMember` (a signed transaction, so the name is as trustworthy as the registry).
 * The auditor fetches nothing: only a `data:` URI carrying JSON with a `name` (RFC 2397, e.g.
 * `data:application/json,{"name":"St. Mary's"}`, percent-encoded or base64) yields a name.
 */

/** Longest name shown; a registry entry is not a place for essays. */
export const MAX_MEMBER_NAME = 120;

export function memberName(metadataURI: string | undefined): string | undefined {
  if (metadataURI === undefined) return undefined;
  const m = /^data:application\/json(;base64)?,(.*)$/s.exec(metadataURI);
  if (m === null) return undefined;
  try {
    const text =
      m[1] !== undefined ? new TextDecoder().decode(Uint8Array.from(atob(m[2]!), (c) => c.charCodeAt(0))) : decodeURIComponent(m[2]!);
    const name = (JSON.parse(text) as { name?: unknown }).name;
    if (typeof name !== 'string') return undefined;
    const clean = name.replace(/\p{Cc}/gu, '').trim();
    return clean === '' ? undefined : clean.slice(0, MAX_MEMBER_NAME);
  } catch {
    return undefined;
  }
}

/** The `data:` URI that `memberName` reads back: what `chain deploy` writes for a member's `name`. */
export function nameMetadataURI(name: string): string {
  return `data:application/json,${encodeURIComponent(JSON.stringify({ name }))}`;
}
