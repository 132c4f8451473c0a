import type { Cluster, Redis } from 'ioredis'
import { RedisError } from '../errors.ts'
import { slotOf } from './slot.ts'
import { isCluster, type Client } from './client.ts'
import { RedisConnection } from './connection.ts'
import type { RedisStore } from './store.ts'
import { UNLOCK, type Script } from './scripts.ts'
import type { ScriptArgument } from './script-store.ts'

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

export class RedisTier extends RedisConnection implements RedisStore {
  /** A plain read: one GET (peek, and a waiter looking for the winner's value). */
  get(key: string): Promise<Buffer | null> {
    return this.run('GET', (c) => c.getBuffer(key), this.countRead)
  }

  /** One MGET of keys of one hash slot, through `run`. */
  protected mget(keys: string[]): Promise<(Buffer | null)[]> {
    return this.run('MGET', (c) => c.mgetBuffer(...keys))
  }

  protected get clustered(): boolean {
    return this.cluster
  }

  /** Deletes keys of one hash slot (a value and its lock). */
  async del(...keys: string[]): Promise<void> {
    await this.run('DEL', (c) => c.del(...keys))
  }

  /** One GET, its reply as text (a stamp). */
  protected getText(key: string): Promise<string | null> {
    return this.run('GET', (c) => c.get(key))
  }

  /** UNLOCK at once, outside the breaker, on the same connection. */
  protected unlockBehind(lockKey: string, token: string): void {
    this.client.eval(UNLOCK.source, 1, lockKey, token).catch(() => undefined)
  }

  /**
   * Waits until `replicas` replicas have every write this connection made so far, on the
   * master of each of `keys` (WAIT there: it counts that connection's own writes), for at
   * most `timeoutMs`; resolves with the fewest that confirmed (see `waitOn`).
   */
  waitForReplicas(keys: readonly string[], replicas: number, timeoutMs: number): Promise<number> {
    const client = this.client
    const nodes = (): Redis[] => [...new Set(keys.map((key) => (isCluster(client) ? masterOf(client, key) : client)))]
    return this.waitOn(nodes, (node) => node.wait(replicas, timeoutMs), timeoutMs)
  }

  /** The server's clock in ms (with microseconds). */
  async time(): Promise<number> {
    const [seconds, micros] = await this.run('TIME', serverTime)
    return Number(seconds) * 1000 + Number(micros) / 1000
  }

  /** The readiness probe of `cache.health()` (see `probeWith`). */
  probe(): Promise<number | undefined> {
    return this.probeWith(() => serverTime(this.client))
  }

  /** Each master's `maxmemory` and `maxmemory-policy`, for `cache.health()` (see `memoryPoliciesOf`). */
  memoryPolicies(): Promise<{ maxmemory: number; policy: string }[]> {
    const client = this.client
    return this.memoryPoliciesOf(() => (isCluster(client) ? client.nodes('master') : [client]), (node) => node.info('memory'))
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.run('PUBLISH', (c) => c.publish(channel, message))
  }

  /** EVALSHA, falling back to EVAL once when the server does not know the script yet. */
  protected script(script: Script, keys: string[], args: ScriptArgument[]): Promise<unknown> {
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
