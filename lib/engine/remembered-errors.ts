/**
 * Errors remembered in place of a value (negative caching, opt-in with `errorTtl`): in
 * this process only, the very same error object, until `until` (epoch ms, local clock).
 * Any invalidation forgets them: a `delete` of the key, and any tag or scope stamp
 * change (`clear()`, `invalidateTags()`, here or heard from another process), which
 * moves the stamps' epoch. Bounded: past `max` keys the oldest is forgotten first.
 */
export class RememberedErrors {
  private readonly errors = new Map<string, { error: unknown; until: number; epoch: number }>()
  private readonly max: number

  constructor(max = 10_000) {
    this.max = max
  }

  /** The error remembered for `key` at stamp epoch `epoch`, wrapped (anything may be thrown, even undefined). */
  get(key: string, epoch: number): { error: unknown } | undefined {
    const remembered = this.errors.get(key)
    if (remembered === undefined) return undefined
    if (remembered.until > Date.now() && remembered.epoch === epoch) return remembered
    this.errors.delete(key)
    return undefined
  }

  /** Remembers `error` for `key` for `ttlMs`, until the stamps move on from `epoch`. */
  set(key: string, error: unknown, ttlMs: number, epoch: number): void {
    this.errors.delete(key)
    this.errors.set(key, { error, until: Date.now() + ttlMs, epoch })
    if (this.errors.size > this.max) this.errors.delete(this.errors.keys().next().value as string)
  }

  delete(key: string): void {
    this.errors.delete(key)
  }
}
