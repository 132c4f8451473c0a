import type { RedisStore } from '../redis/store.ts'
import { compute, type Call } from './compute.ts'
import type { Core } from './core.ts'
import { LockWait, newer, type Around, type FillFrom } from './lock-wait.ts'
import { asIs, RedisReads } from './redis-reads.ts'
import { resultOf, type CacheResult } from './result.ts'
import { expiredAt } from './policies.ts'
import type { Entry } from '../codec/envelope.ts'

/**
 * The read path with Redis behind L1 (a cache without Redis never builds one: `ReadThrough`
 * computes at once). A fill is one GET, then, for a miss or a stale value, the lock
 * ({@link LockWait}); `peek` and `delete` reach Redis here too.
 */
export class TwoTier {
  private readonly core: Core
  private readonly l2: RedisStore
  private readonly reads: RedisReads
  private readonly locks: LockWait

  constructor(core: Core, l2: RedisStore, around: Around) {
    this.core = core
    this.l2 = l2
    this.reads = new RedisReads(core, l2)
    this.locks = new LockWait({ core, l2, reads: this.reads, around })
  }

  /**
   * L2, then the lock, then the function. Not an async function, and the GET's reply is
   * decided on in one callback (see `RedisReads.lookup`): an L2 hit settles the flight in
   * the microtask turn after the tier's answer, not two turns after it.
   */
  fill<T>(call: Call<T>, from: FillFrom): Promise<CacheResult<T>> {
    // Only a cache created a moment ago waits; afterwards this costs no tick.
    const starting = this.l2.whenStarted()
    if (starting !== undefined) return starting.then(() => this.fillStarted(call, from))
    return this.fillStarted(call, from)
  }

  private fillStarted<T>(call: Call<T>, from: FillFrom): Promise<CacheResult<T>> {
    const core = this.core
    const { key } = call
    // Negative caching (opt-in): the same error again, unless another process stored a value meanwhile.
    const remembered = from.newerThan === 0 ? core.remembered.get(key, core.tags.epoch) : undefined
    if (remembered !== undefined) return this.rememberedUnlessStored<T>(key, remembered.error)
    // An L2 hit is one GET; only a miss, or a stale value, goes on to the lock.
    return this.reads.lookup({ key, newerThan: from.newerThan, count: true }, (looked) => {
      if (looked.kind === 'hit') return resultOf<T>(looked.entry, 'hit')
      // Redis just failed: straight to the function, not through more timeouts.
      if (looked.kind === 'down') return compute(core, call, { stale: from.stale, detach: from.detach })
      return this.locks.run(call, { ...from, stale: newer(from.stale, looked.stale) })
    })
  }

  /**
   * A soft delete in Redis: the value read, made stale (`expiredAt`) and written again in
   * place of the one read, the lock deleted (`EXPIRE`); a delete when there is nothing to
   * keep (no value, no grace, or it does not decode). The stale copy is kept in L1 too, to
   * be checked against the stamps at its first read.
   */
  private async expire(key: string): Promise<void> {
    const core = this.core
    const lockKey = core.layout.lockKey(key)
    const bytes = await this.l2.get(key)
    const now = core.now()
    const kept = bytes === null ? undefined : this.staleCopy(key, bytes, now)
    if (bytes === null || kept === undefined) {
      await this.l2.del(key, lockKey)
      core.touch(key)
      return
    }
    const writing = core.watchWrite(key)
    const header = bytes.subarray(0, bytes.indexOf(10) + 1)
    let written = false
    let echoes: number | undefined
    try {
      written = await this.l2.expire({ key, lockKey, header, bytes: kept.bytes, ttlMs: kept.entry.staleUntil - now })
    } finally {
      echoes = core.endWrite(key, writing, written)
    }
    // Reads under way of the value before it must not put it back over the stale copy.
    core.touch(key)
    if (written && echoes !== undefined) core.l1?.set(key, kept.entry, kept.size, -1, echoes)
  }

  /** The value `bytes` made stale at `now` and encoded, or undefined when nothing is left to keep. */
  private staleCopy(key: string, bytes: Buffer, now: number): { entry: Entry; bytes: Buffer; size: number } | undefined {
    try {
      const entry = expiredAt(this.core.envelope.decode(bytes, key), now, now)
      return entry === undefined ? undefined : { entry, ...this.core.envelope.encodeSized(entry, key) }
    } catch (error) {
      this.core.error(error, key, 'l2')
      return undefined
    }
  }

  /** A remembered error, thrown again, unless another process has stored a value since. */
  private async rememberedUnlessStored<T>(key: string, error: unknown): Promise<CacheResult<T>> {
    const looked = await this.reads.lookup({ key, newerThan: 0, count: true }, asIs)
    if (looked.kind === 'hit') return resultOf(looked.entry, 'hit')
    throw error
  }

  /** One GET, counted: the fresh value, or undefined. */
  async peek<T>(key: string): Promise<CacheResult<T> | undefined> {
    await this.l2.whenStarted()
    const looked = await this.reads.lookup({ key, newerThan: 0, count: true }, asIs)
    return looked.kind === 'hit' ? resultOf(looked.entry, 'hit') : undefined
  }

  /** {@link peek} for many keys: one MGET (per hash slot on a Cluster), counted. */
  async peekMany<T>(keys: readonly string[]): Promise<(CacheResult<T> | undefined)[]> {
    await this.l2.whenStarted()
    return (await this.reads.lookupMany(keys)).map((looked) => (looked.kind === 'hit' ? resultOf<T>(looked.entry, 'hit') : undefined))
  }

  /**
   * Deletes the value and its lock in Redis (`soft`: the value kept stale, see
   * {@link expire}), then tells every process (see `ReadThrough.delete`).
   */
  async delete(key: string, soft: boolean): Promise<void> {
    const core = this.core
    await this.l2.whenStarted()
    if (soft) await this.expire(key)
    else {
      await this.l2.del(key, core.layout.lockKey(key))
      // A read of this process that sent its GET before the DEL must not keep the old value.
      core.touch(key)
    }
    const announced = core.announce([key])
    if (announced !== undefined) await announced
    await core.replicated([key], `deleting ${key}`)
  }
}
