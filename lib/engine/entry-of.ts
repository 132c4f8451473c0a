import type { Entry } from '../codec/envelope.ts'
import { parseDuration } from '../options/duration.ts'
import type { ResolvedEntryOptions } from '../options/resolve.ts'
import type { Computation } from './factory-context.ts'
import { tagId } from './tags.ts'

/**
 * The entry a value is stored as: its times and tags, each decided by the first that
 * says: the function's context (`setTtl`, `setGrace`, `setTags`), the option given as a
 * function of the value, the option. A value the context kept (`notModified`) keeps its
 * `created`, tags and validator; only its times are new.
 */

/** What {@link entryOf} needs. */
export interface EntryAt<T> {
  value: T
  options: ResolvedEntryOptions<T>
  /** Scope tag ids the entry carries besides its own tags. */
  scope: readonly string[]
  /** For tags: server clock ms. */
  created: number
  /** Where the ttl starts: this process's clock. */
  started: number
  /** The cache's `jitter` ratio. */
  jitter: number
  ctx: Computation<T> | undefined
}

/** The entry of a value (see above). @throws InvalidOptionError when a function of the value returns a bad duration; whatever a `tags` function throws. */
export function entryOf<T>(at: EntryAt<T>): Entry<T> {
  const { options, ctx } = at
  const kept = ctx?.renewed === true ? ctx.previous : undefined
  const value = kept === undefined ? at.value : kept.value
  const created = kept === undefined ? at.created : kept.created
  const ttl = ttlOf(value, options, ctx, at.jitter)
  const grace = ctx?.grace ?? durationOf(options.graceOf, value, 'grace', true) ?? options.grace
  // Whole milliseconds, rounded up (never fresh for less than asked): freshness is checked
  // to the millisecond, and a whole number is read back from the envelope without a string.
  const fresh = Math.ceil(Math.max(created, at.started + ttl))
  const entry: Entry<T> = { value, created, freshUntil: fresh, staleUntil: fresh + grace, tags: kept?.tags ?? tagsOf(value, at) }
  const validator = kept === undefined ? ctx?.validator : kept.validator
  if (validator !== undefined) entry.validator = validator
  return entry
}

function ttlOf<T>(value: T, options: ResolvedEntryOptions<T>, ctx: Computation<T> | undefined, jitter: number): number {
  const lifetime = options.lifetime?.(value)
  if (lifetime !== undefined) return lifetime
  const ttl = ctx?.ttl ?? durationOf(options.ttlOf, value, 'ttl', false) ?? options.ttl
  return jitter > 0 ? Math.round(ttl * (1 - Math.random() * jitter)) : ttl
}

/** An option's function of the value, called and checked; undefined when the option is no function. */
function durationOf<T>(fn: ((value: T) => unknown) | undefined, value: T, option: string, allowZero: boolean): number | undefined {
  return fn === undefined ? undefined : parseDuration(fn(value), `${option} (a function of the value)`, allowZero)
}

function tagsOf<T>(value: T, at: EntryAt<T>): readonly string[] {
  const tags = at.options.tags
  const own = at.ctx?.tags ?? (tags === undefined ? undefined : typeof tags === 'function' ? tags(value) : tags)
  return own === undefined ? at.scope : [...at.scope, ...own.map(tagId)]
}
