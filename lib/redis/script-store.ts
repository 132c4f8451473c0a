import { RedisError } from '../errors.ts'
import { CommandRunner } from './breaker.ts'
import type { Fill, LockRead, ReadOrLock } from './store.ts'
import { EXTEND, FILL, READ_OR_LOCK, SET_TRACKED, SET_UNLESS_LOCKED, STAMP, STAMP_OR_FLOOR, FLOOR, UNLOCK, type Script } from './scripts.ts'

/**
 * The `RedisStore` methods that are scripts (`scripts.ts`) and their replies, whatever the
 * client: each script sent through the connection's `run` by {@link ScriptStore.script}
 * (EVALSHA, then EVAL once when the server does not know it), which a client's store
 * implements. Scripts name a value and its lock, or a stamp and its bucket's floor, which
 * share a hash slot, so a Cluster never sees CROSSSLOT.
 */

export type ScriptArgument = string | Buffer

const px = (ms: number): string => String(Math.max(1, Math.ceil(ms)))

export abstract class ScriptStore<C> extends CommandRunner<C> {
  /** Runs `script` through `run`: EVALSHA, falling back to EVAL once on NOSCRIPT; bulk replies as Buffers. */
  protected abstract script(script: Script, keys: string[], args: ScriptArgument[]): Promise<unknown>
  /** One GET through `run`, its reply as text. */
  protected abstract getText(key: string): Promise<string | null>
  /** Sends `UNLOCK` at once, outside `run` (best effort, nobody waits for it). */
  protected abstract unlockBehind(lockKey: string, token: string): void

  /** The read of a miss: the fresh value, or the lock taken, or who holds it (one script). */
  async readOrLock(read: ReadOrLock): Promise<LockRead> {
    const args = [read.token, String(read.lockTtlMs), String(read.newerThan), read.skipValue ? '1' : '0', String(read.now)]
    let reply: unknown[]
    try {
      reply = (await this.script(READ_OR_LOCK, [read.key, read.lockKey], args)) as unknown[]
    } catch (error) {
      // The SET NX may still run when a slow (paused) server gets to it, leaving a lock
      // nobody holds: queue a compare-and-delete right behind it, on the same connection.
      if (error instanceof RedisError && error.code === 'ERR_REDIS_TIMEOUT') this.unlockBehind(read.lockKey, read.token)
      throw error
    }
    const bytes = (reply[1] ?? null) as Buffer | null
    this.countRead(bytes)
    if (reply[0] === 0) return { kind: 'fresh', bytes: bytes as Buffer }
    const serverNow = Number(String(reply[2]))
    if (reply[0] === 1) return { kind: 'won', bytes, serverNow }
    return { kind: 'held', bytes, serverNow, holderMs: Number(reply[3]) }
  }

  /** Writes a computed value and releases the lock, only while `token` holds it; false when it did not. */
  async fill(fill: Fill): Promise<boolean> {
    const written = Number(await this.script(FILL, [fill.key, fill.lockKey], [fill.token, fill.bytes, px(fill.ttlMs)])) === 1
    if (written) this.counts.bytesWritten += fill.bytes.length
    return written
  }

  /**
   * Writes a value computed without the lock, only while nobody holds it and over no
   * value created after `created`; false when it did not.
   */
  async setUnlessLocked(write: { key: string; lockKey: string; bytes: Buffer; ttlMs: number; created: number }): Promise<boolean> {
    const written = Number(await this.script(SET_UNLESS_LOCKED, [write.key, write.lockKey], [write.bytes, px(write.ttlMs), String(write.created)])) === 1
    if (written) this.counts.bytesWritten += write.bytes.length
    return written
  }

  /** A plain write (`cache.set`), tracked for this connection around it (see `SET_TRACKED`). */
  async set(key: string, value: Buffer, ttlMs: number): Promise<void> {
    await this.script(SET_TRACKED, [key], [value, px(ttlMs)])
    this.counts.bytesWritten += value.length
  }

  /** Releases the lock only if `token` still holds it (compare-and-delete). */
  async releaseLock(key: string, token: string): Promise<void> {
    await this.script(UNLOCK, [key], [token])
  }

  /** Extends the lock only if `token` still holds it; false when it was lost. */
  async extendLock(key: string, token: string, ttlMs: number): Promise<boolean> {
    return Number(await this.script(EXTEND, [key], [token, String(ttlMs)])) === 1
  }

  /** Sets a tag's stamp to the server's time in ms, and raises its bucket's floor to it; returns it. */
  async stampTag(key: string, floorKey: string): Promise<number> {
    return Number(String(await this.script(STAMP, [key, floorKey], [])))
  }

  /**
   * Reads a tag's stamp (server ms): one GET. Undefined when it is missing (never set,
   * or evicted: they look alike) or not a number; see {@link stampOrFloor}.
   */
  async getStamp(key: string): Promise<number | undefined> {
    const value = await this.getText(key)
    const stamp = value === null ? Number.NaN : Number(value)
    return Number.isFinite(stamp) ? stamp : undefined
  }

  /** What a stamp found missing counts as: its bucket's floor, or now when that is gone too (see `STAMP_OR_FLOOR`). */
  async stampOrFloor(key: string, floorKey: string): Promise<number> {
    return Number(String(await this.script(STAMP_OR_FLOOR, [key, floorKey], [])))
  }

  /** Sets each bucket floor that is missing to the server's time; resolves with the server's times then, at least the floors (ms; see `FLOOR`). */
  async setFloors(floorKeys: readonly string[]): Promise<number[]> {
    return Promise.all(floorKeys.map(async (key) => Number(String(await this.script(FLOOR, [key], [])))))
  }
}
