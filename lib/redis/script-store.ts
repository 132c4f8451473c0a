import { RedisError } from '../errors.ts'
import { CommandRunner } from './breaker.ts'
import { bySlot } from './slot.ts'
import { parseStamp, type Fill, type LockRead, type ReadOrLock, type Renew, type Stamp } from './store.ts'
import { EXPIRE, EXTEND, FILL, FILL_MANY, READ_OR_LOCK, READ_OR_LOCK_MANY, RENEW, SET_TRACKED, SET_UNLESS_LOCKED, STAMP, STAMP_OR_FLOOR, FLOOR, UNLOCK, type Script } from './scripts.ts'

/**
 * The `RedisStore` methods that are scripts (`scripts.ts`) and their replies, whatever the
 * client: each script sent through the connection's `run` by {@link ScriptStore.script}
 * (EVALSHA, then EVAL once when the server does not know it), which a client's store
 * implements. Scripts name a value and its lock, or a stamp and its bucket's floor, which
 * share a hash slot; a batch's scripts name keys of one slot (see {@link perSlot}), so a
 * Cluster never sees CROSSSLOT.
 */

export type ScriptArgument = string | Buffer

const px = (ms: number): string => String(Math.max(1, Math.ceil(ms)))

/** FILL's arguments for one value: token, value, PX (ms). */
const fillArgs = (fill: Fill): ScriptArgument[] => [fill.token, fill.bytes, px(fill.ttlMs)]

/** A script's answer that is a stamp; a `RedisError` when it is not one. */
function stampOf(reply: unknown): Stamp {
  const stamp = parseStamp(String(reply))
  if (stamp === undefined) throw new RedisError(`redis: a stamp script answered ${String(reply).slice(0, 40)}`)
  return stamp
}

export abstract class ScriptStore<C> extends CommandRunner<C> {
  /** Runs `script` through `run`: EVALSHA, falling back to EVAL once on NOSCRIPT; bulk replies as Buffers. */
  protected abstract script(script: Script, keys: string[], args: ScriptArgument[]): Promise<unknown>
  /** One GET through `run`, its reply as text. */
  protected abstract getText(key: string): Promise<string | null>
  /** Sends `UNLOCK` at once, outside `run` (best effort, nobody waits for it). */
  protected abstract unlockBehind(lockKey: string, token: string): void
  /** True on a Cluster: a batch's keys are sent per hash slot. */
  protected abstract get clustered(): boolean
  /** One MGET of keys of one hash slot, through `run`; bulk replies as Buffers. */
  protected abstract mget(keys: string[]): Promise<(Buffer | null)[]>

  /** A batch's reads: one MGET per hash slot (one on a single node), sent together. */
  async getMany(keys: readonly string[]): Promise<(Buffer | null)[]> {
    const values = new Array<Buffer | null>(keys.length)
    await this.perSlot(keys, async (at) => {
      const found = await this.mget(at.map((i) => keys[i] as string))
      at.forEach((i, j) => {
        const value = found[j] ?? null
        this.countRead(value)
        values[i] = value
      })
    })
    return values
  }

  /** The read of a miss: the fresh value, or the lock taken, or who holds it (one script). */
  async readOrLock(read: ReadOrLock): Promise<LockRead> {
    return this.lockRead((await this.lockScript(READ_OR_LOCK, [read])) as unknown[])
  }

  /** {@link readOrLock} for each read, one script per hash slot (one on a single node), sent together. */
  async readOrLockMany(reads: readonly ReadOrLock[]): Promise<LockRead[]> {
    const found = new Array<LockRead>(reads.length)
    await this.perSlot(
      reads.map((read) => read.key),
      async (at) => {
        const replies = (await this.lockScript(READ_OR_LOCK_MANY, at.map((i) => reads[i] as ReadOrLock))) as unknown[][]
        at.forEach((i, j) => (found[i] = this.lockRead(replies[j] as unknown[])))
      },
    )
    return found
  }

  /**
   * A read-or-lock script for `reads`. One that timed out may still take its locks when a
   * slow (paused) server gets to it, leaving locks nobody holds: a compare-and-delete of
   * each is queued right behind it, on the same connection (see {@link unlockBehind}).
   */
  private async lockScript(script: Script, reads: readonly ReadOrLock[]): Promise<unknown> {
    const keys = reads.flatMap((read) => [read.key, read.lockKey])
    const args = reads.flatMap((read) => [read.token, String(read.lockTtlMs), String(read.newerThan), read.skipValue ? '1' : '0', String(read.now)])
    try {
      return await this.script(script, keys, args)
    } catch (error) {
      if (error instanceof RedisError && error.code === 'ERR_REDIS_TIMEOUT') for (const read of reads) this.unlockBehind(read.lockKey, read.token)
      throw error
    }
  }

  /** One READ_OR_LOCK reply, decoded. */
  private lockRead(reply: unknown[]): LockRead {
    const bytes = (reply[1] ?? null) as Buffer | null
    this.countRead(bytes)
    if (reply[0] === 0) return { kind: 'fresh', bytes: bytes as Buffer }
    const serverNow = Number(String(reply[2]))
    if (reply[0] === 1) return { kind: 'won', bytes, serverNow }
    return { kind: 'held', bytes, serverNow, holderMs: Number(reply[3]) }
  }

  /** Writes a computed value and releases the lock, only while `token` holds it; false when it did not. */
  async fill(fill: Fill): Promise<boolean> {
    const written = Number(await this.script(FILL, [fill.key, fill.lockKey], fillArgs(fill))) === 1
    if (written) this.counts.bytesWritten += fill.bytes.length
    return written
  }

  /** {@link fill} for each value, one script per hash slot (one on a single node), sent together. */
  async fillMany(fills: readonly Fill[]): Promise<boolean[]> {
    const written = new Array<boolean>(fills.length)
    await this.perSlot(
      fills.map((fill) => fill.key),
      async (at) => {
        const group = at.map((i) => fills[i] as Fill)
        const replies = (await this.script(FILL_MANY, group.flatMap((fill) => [fill.key, fill.lockKey]), group.flatMap(fillArgs))) as unknown[]
        at.forEach((i, j) => {
          written[i] = Number(replies[j]) === 1
          if (written[i]) this.counts.bytesWritten += (fills[i] as Fill).bytes.length
        })
      },
    )
    return written
  }

  /** Runs `send` for the positions of `keys` of each hash slot (all of them on a single node), together. */
  protected async perSlot(keys: readonly string[], send: (at: number[]) => Promise<void>): Promise<void> {
    await Promise.all(bySlot(keys, this.clustered).map(send))
  }

  /** Extends a stored value's life in place and releases the lock (see `RedisStore.renew`, `RENEW`); false when not renewed. */
  async renew(renew: Renew): Promise<boolean> {
    const args = [renew.token, String(renew.created), String(renew.freshUntil), String(renew.staleUntil), px(renew.ttlMs)]
    return Number(await this.script(RENEW, [renew.key, renew.lockKey], args)) === 1
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

  /** A soft delete: the value read a moment ago written again as a stale copy, the lock deleted (see `EXPIRE`). */
  async expire(write: { key: string; lockKey: string; header: Buffer; bytes: Buffer; ttlMs: number }): Promise<boolean> {
    const written = Number(await this.script(EXPIRE, [write.key, write.lockKey], [write.header, write.bytes, px(write.ttlMs)])) === 1
    if (written) this.counts.bytesWritten += write.bytes.length
    return written
  }

  /** Sets a tag's stamp (`soft`: its soft part) to the server's time, and raises its bucket's floor to it; returns it. */
  async stampTag(key: string, floorKey: string, soft: boolean): Promise<Stamp> {
    return stampOf(await this.script(STAMP, [key, floorKey], [soft ? '1' : '0']))
  }

  /**
   * Reads a tag's stamp: one GET. Undefined when it is missing (never set, or evicted:
   * they look alike) or not a stamp; see {@link stampOrFloor}.
   */
  async getStamp(key: string): Promise<Stamp | undefined> {
    const value = await this.getText(key)
    return value === null ? undefined : parseStamp(value)
  }

  /** What a stamp found missing counts as: its bucket's floor, or now when that is gone too (see `STAMP_OR_FLOOR`). */
  async stampOrFloor(key: string, floorKey: string): Promise<Stamp> {
    return stampOf(await this.script(STAMP_OR_FLOOR, [key, floorKey], []))
  }

  /** Sets each bucket floor that is missing to the server's time; resolves with the server's times then, at least the floors (ms; see `FLOOR`). */
  async setFloors(floorKeys: readonly string[]): Promise<number[]> {
    return Promise.all(floorKeys.map(async (key) => Number(String(await this.script(FLOOR, [key], [])))))
  }
}
