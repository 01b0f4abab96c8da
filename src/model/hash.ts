/**
 * FNV-1a, 32 bits: a small, fast, non-cryptographic string hash that is stable across
 * processes, versions and platforms — what shards pick keys by and Events are named by.
 */

/**
 * The 32-bit FNV-1a hash of `text`'s UTF-16 code units, as an unsigned integer.
 *
 * @example
 * ```ts
 * fnv1a("shop/front") % 12; // the shard of a key
 * ```
 */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
