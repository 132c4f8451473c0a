import type { Cluster, Redis } from 'ioredis'
import { RedisError } from '../errors.ts'
import { bySlot, slotOf } from './slot.ts'
import { isCluster, type Client } from './client.ts'
import { RedisConnection } from './connection.ts'
import { parseStamp, type Fill, type LockRead, type ReadOrLock, type RedisStore, type Renew, type Stamp } from './store.ts'
import { EXPIRE, EXTEND, FILL, FILL_MANY, READ_OR_LOCK, READ_OR_LOCK_MANY, RENEW, SET_TRACKED, SET_UNLESS_LOCKED, STAMP, STAMP_OR_FLOOR, FLOOR, UNLOCK, type Script } from './scripts.ts'

/**
 * L2: the commands and scripts of the Redis path, each sent through the connection's
 * `run` (`connection.ts`: timeout, circuit breaker, counts). Scripts name a value and its
 * lock, or a stamp and its bucket's floor, which share a hash slot; no other command
 * names more than one key, so a Cluster never sees CROSSSLOT.
 */

/** EVALSHA / EVAL with bulk replies as Buffers. */
interface BufferScripts {
  evalshaBuffer(sha: string, keyCount: number, ...keysAndArgs: (string | Buffer)[]): Promise<unknown>
  evalBuffer(source: string, keyCount: number, ...keysAndArgs: (string | Buffer)[]): Promise<unknown>
}

/** TIME, on a Cluster sent to its first master (every node's clock is the same enough). */
const serverTime = (c: Client): Promise<number[]> => (isCluster(c) ? (c.nodes('master')[0] as Redis).time() : c.time())

/** The connection of a Cluster to the master that owns `key`'s slot, as the Cluster last mapped it. */
function masterOf(cluster: Cluster, key: string): Redis {
  const owner = cluster.slots[slotOf(key)]?.[0]
  const master = cluster.nodes('master').find((node) => `${node.options.host}:${node.options.port}` === owner)
  if (master === undefined) throw new RedisError(`redis: no known master for ${key}, WAIT not sent`)
  return master
}

/** A script's answer that is a stamp; a `RedisError` when it is not one. */
function stampOf(reply: unknown): Stamp {
  const stamp = parseStamp(String(reply))
  if (stamp === undefined) throw new RedisError(`redis: a stamp script answered ${String(reply).slice(0, 40)}`)
  return stamp
}

/** FILL's arguments for one value: token, value, PX (ms). */
function fillArgs(fill: Fill): (string | Buffer)[] {
  return [fill.token, fill.bytes, String(Math.max(1, Math.ceil(fill.ttlMs)))]
}

export class RedisTier extends RedisConnection implements RedisStore {
  /** A plain read: one GET (peek, and a waiter looking for the winner's value). */
  get(key: string): Promise<Buffer | null> {
    return this.run('GET', (c) => c.getBuffer(key), this.countRead)
  }

  /** The read of a miss: the fresh value, or the lock taken, or who holds it (one script). */
  async readOrLock(read: ReadOrLock): Promise<LockRead> {
    const reply = (await this.lockScript(READ_OR_LOCK, [read])) as unknown[]
    return this.lockRead(reply)
  }

  /** A batch's reads: one MGET per hash slot (one on a single node), sent together. */
  async getMany(keys: readonly string[]): Promise<(Buffer | null)[]> {
    const values = new Array<Buffer | null>(keys.length)
    await this.perSlot(keys, async (at) => {
      const found = await this.run('MGET', (c) => c.mgetBuffer(...at.map((i) => keys[i] as string)))
      at.forEach((i, j) => {
        const value = found[j] ?? null
        this.countRead(value)
        values[i] = value
      })
    })
    return values
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
   * each is queued right behind it, on the same connection, outside the breaker (best
   * effort, nobody waits for it).
   */
  private async lockScript(script: Script, reads: readonly ReadOrLock[]): Promise<unknown> {
    const keys = reads.flatMap((read) => [read.key, read.lockKey])
    const args = reads.flatMap((read) => [read.token, String(read.lockTtlMs), String(read.newerThan), read.skipValue ? '1' : '0', String(read.now)])
    try {
      return await this.script(script, keys, args)
    } catch (error) {
      if (error instanceof RedisError && error.code === 'ERR_REDIS_TIMEOUT') {
        for (const read of reads) this.client.eval(UNLOCK.source, 1, read.lockKey, read.token).catch(() => undefined)
      }
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

  /** Extends a stored value's life in place and releases the lock (see `RedisStore.renew`, `RENEW`); false when not renewed. */
  async renew(renew: Renew): Promise<boolean> {
    const px = String(Math.max(1, Math.ceil(renew.ttlMs)))
    const args = [renew.token, String(renew.created), String(renew.freshUntil), String(renew.staleUntil), px]
    return Number(await this.script(RENEW, [renew.key, renew.lockKey], args)) === 1
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
  private async perSlot(keys: readonly string[], send: (at: number[]) => Promise<void>): Promise<void> {
    await Promise.all(bySlot(keys, this.cluster).map(send))
  }

  /**
   * Writes a value computed without the lock, only while nobody holds it and over no
   * value created after `created`; false when it did not.
   */
  async setUnlessLocked(write: { key: string; lockKey: string; bytes: Buffer; ttlMs: number; created: number }): Promise<boolean> {
    const px = String(Math.max(1, Math.ceil(write.ttlMs)))
    const written = Number(await this.script(SET_UNLESS_LOCKED, [write.key, write.lockKey], [write.bytes, px, String(write.created)])) === 1
    if (written) this.counts.bytesWritten += write.bytes.length
    return written
  }

  /** A plain write (`cache.set`), tracked for this connection around it (see `SET_TRACKED`). */
  async set(key: string, value: Buffer, ttlMs: number): Promise<void> {
    await this.script(SET_TRACKED, [key], [value, String(Math.max(1, Math.ceil(ttlMs)))])
    this.counts.bytesWritten += value.length
  }

  /** Deletes keys of one hash slot (a value and its lock). */
  async del(...keys: string[]): Promise<void> {
    await this.run('DEL', (c) => c.del(...keys))
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
    const px = String(Math.max(1, Math.ceil(write.ttlMs)))
    const written = Number(await this.script(EXPIRE, [write.key, write.lockKey], [write.header, write.bytes, px])) === 1
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
    const value = await this.run('GET', (c) => c.get(key))
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

  /**
   * Waits until `replicas` replicas have every write this connection made so far, on the
   * master of each of `keys` (WAIT there: it counts that connection's own writes), for at
   * most `timeoutMs`; resolves with the fewest that confirmed. Outside {@link run}: WAIT
   * takes its own time, and its answer bounds it (plus `redisTimeout` for the reply).
   */
  async waitForReplicas(keys: readonly string[], replicas: number, timeoutMs: number): Promise<number> {
    const client = this.client
    if (this.closed || client.status !== 'ready') throw new RedisError(`redis: not connected (${client.status}), WAIT not sent`)
    const nodes = new Set(keys.map((key) => (isCluster(client) ? masterOf(client, key) : client)))
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RedisError(`redis: WAIT timed out after ${timeoutMs + this.options.timeoutMs}ms`, { code: 'ERR_REDIS_TIMEOUT' })), timeoutMs + this.options.timeoutMs)
    })
    try {
      const confirmed = await Promise.race([Promise.all([...nodes].map((node) => node.wait(replicas, timeoutMs))), late])
      return Math.min(...confirmed)
    } catch (error) {
      throw error instanceof RedisError ? error : new RedisError(`redis: WAIT failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
    } finally {
      clearTimeout(timer)
    }
  }

  /** The server's clock in ms (with microseconds). */
  async time(): Promise<number> {
    const [seconds, micros] = await this.run('TIME', serverTime)
    return Number(seconds) * 1000 + Number(micros) / 1000
  }

  /**
   * The readiness probe of `cache.health()`: one TIME on a ready connection, outside the
   * circuit breaker, which it never opens or closes (a probe must not cut callers off
   * from Redis, nor let them through early). TIME rather than PING: the documented ACLs
   * grant it, since the clock needs it. Resolves with the round trip in ms, or undefined
   * when not connected (nothing sent); rejects with a `RedisError` when the server
   * refuses it (an ACL `NOPERM`), counted in {@link counts}. The caller bounds the wait.
   */
  async probe(): Promise<number | undefined> {
    if (this.closed || this.client.status !== 'ready') return undefined
    const started = performance.now()
    try {
      await serverTime(this.client)
    } catch (error) {
      const wrapped = new RedisError(`redis: TIME failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
      this.countError(wrapped)
      throw wrapped
    }
    return performance.now() - started
  }

  /**
   * Each master's `maxmemory` (bytes; 0: no limit) and `maxmemory-policy`, by `INFO
   * memory`, for `cache.health()`. Sent outside {@link run}: a refusal (an ACL without
   * `INFO`) says nothing of Redis's health and must not count against the breaker.
   */
  async memoryPolicies(): Promise<{ maxmemory: number; policy: string }[]> {
    const client = this.client
    if (this.closed || client.status !== 'ready' || this.state !== 'closed') throw new RedisError('redis: not asked')
    const nodes: Redis[] = isCluster(client) ? client.nodes('master') : [client]
    return Promise.all(
      nodes.map(async (node) => {
        // INFO, not CONFIG GET: the documented ACLs grant it, and it reads no secret.
        const info = await node.info('memory')
        const value = (name: string): string | undefined => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim()
        return { maxmemory: Number(value('maxmemory') ?? 0), policy: value('maxmemory_policy') ?? 'unknown' }
      }),
    )
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.run('PUBLISH', (c) => c.publish(channel, message))
  }

  /** EVALSHA, falling back to EVAL once when the server does not know the script yet. */
  private script(script: Script, keys: string[], args: (string | Buffer)[]): Promise<unknown> {
    return this.run(script.name, async (c) => {
      // The Buffer-reply forms ioredis makes for every command (not in its typings); unlike
      // `callBuffer`, they also survive an app's template with enableAutoPipelining.
      const scripts = c as unknown as BufferScripts
      try {
        return await scripts.evalshaBuffer(script.sha, keys.length, ...keys, ...args)
      } catch (error) {
        if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
        return await scripts.evalBuffer(script.source, keys.length, ...keys, ...args)
      }
    })
  }

}
