import { slotOf, slotTag } from '../redis/slot.ts'

/** How many buckets the stamps are spread over (their hash slots, on a Cluster). */
export const STAMP_BUCKETS = 16

/** The bucket of a tag or scope id: a fixed spread, the same in every process. */
function bucketOf(id: string): number {
  return slotOf(id) % STAMP_BUCKETS
}

/**
 * Where things live in Redis, under the cache's `prefix` (which holds no `:`, so the first
 * `:` of a key ends its prefix and no two prefixes' keys meet):
 *
 *   <prefix>:<ns>:<key>                           a getOrSet/get/set/delete value: the user's key, raw
 *   <prefix>:<ns>!<name>:v<version>:<digest>      a memoized function's value
 *   <prefix>:!lock:{<slot tag>}<value key less prefix:>   the value's lock, in the value's hash slot
 *   <prefix>:!tag:{<b>}<id>                       a tag's or scope's invalidation stamp, in bucket b (0-15)
 *   <prefix>:!floor:{<b>}                         the newest stamp bucket b ever had, in the bucket's hash slot
 *   <prefix>:!bus                                 the bus channel
 *
 * `ns` and `name` are escaped once, when the namespace or function is made (`keySegment`:
 * never `:`, `!`, braces, globs or whitespace); the user's key is never escaped, so a hit
 * pays no per-call work and `user:42` reads `app:default:user:42` in redis-cli. Nothing
 * collides: internal keys start with `<prefix>:!` and `ns` never starts with `!`; a
 * getOrSet key follows `<ns>:` and a memoized one `<ns>!`, and `ns` holds neither.
 */
export class KeyLayout {
  readonly prefix: string
  /** `${prefix}:!lock:` */
  readonly lockPrefix: string
  /** `${prefix}:!tag:` */
  readonly stampPrefix: string
  /** `${prefix}:!floor:` */
  readonly floorPrefix: string
  /** `${prefix}:!bus` */
  readonly channel: string

  constructor(prefix: string) {
    this.prefix = prefix
    this.lockPrefix = `${prefix}:!lock:`
    this.stampPrefix = `${prefix}:!tag:`
    this.floorPrefix = `${prefix}:!floor:`
    this.channel = `${prefix}:!bus`
  }

  /** What a namespace's getOrSet keys start with: `${prefix}:${ns}:`. `ns` is already escaped. */
  valueBase(ns: string): string {
    return `${this.prefix}:${ns}:`
  }

  /** What a memoized function's keys start with: `${prefix}:${ns}!${name}:v${version}:`. `ns` and `name` are already escaped. */
  functionBase(ns: string, name: string, version: number): string {
    return `${this.prefix}:${ns}!${name}:v${version}:`
  }

  /** The lock of a value key: same hash slot, so one script may touch both. */
  lockKey(valueKey: string): string {
    return `${this.lockPrefix}{${slotTag(slotOf(valueKey))}}${valueKey.slice(this.prefix.length + 1)}`
  }

  /** The value key a lock key guards, or undefined when `key` is not a lock key. */
  valueKeyOfLock(key: string): string | undefined {
    if (!key.startsWith(this.lockPrefix)) return undefined
    const close = key.indexOf('}', this.lockPrefix.length)
    return close === -1 ? undefined : `${this.prefix}:${key.slice(close + 1)}`
  }

  /**
   * The stamp key of a tag or scope id: in one of {@link STAMP_BUCKETS} buckets, whose
   * hash tag puts it in the slot of its bucket's floor key, so that one script may touch both.
   */
  stampKey(id: string): string {
    return `${this.stampPrefix}{${bucketOf(id)}}${id}`
  }

  /** The tag or scope id of a stamp key, or undefined when `key` is not a stamp key. */
  stampIdOf(key: string): string | undefined {
    if (!key.startsWith(this.stampPrefix)) return undefined
    const close = key.indexOf('}', this.stampPrefix.length)
    return close === -1 ? undefined : key.slice(close + 1)
  }

  /** The floor key of the bucket of a tag or scope id (see `TagStamps`). */
  floorKey(id: string): string {
    return `${this.floorPrefix}{${bucketOf(id)}}`
  }

  /** Every bucket's floor key. */
  floorKeys(): string[] {
    return Array.from({ length: STAMP_BUCKETS }, (_, b) => `${this.floorPrefix}{${b}}`)
  }
}
