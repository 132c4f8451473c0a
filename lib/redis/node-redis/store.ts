import { RedisError } from '../../errors.ts'
import { slotOf } from '../slot.ts'
import type { RedisStore } from '../store.ts'
import { UNLOCK, type Script } from '../scripts.ts'
import type { ScriptArgument } from '../script-store.ts'
import { NodeRedisConnection, type NodeClient } from './connection.ts'

/**
 * L2 over node-redis: the `RedisStore` the engine holds, its commands and scripts (the
 * same as over ioredis, `scripts.ts`) sent through the connection's `run` (timeout,
 * circuit breaker, counts). On a cluster a command is routed by its first key; scripts
 * name a value and its lock, or a stamp and its floor, which share a hash slot.
 */

/** TIME's reply (seconds, microseconds) as server ms. */
const msOf = (reply: unknown): number => {
  const [seconds, micros] = reply as ScriptArgument[]
  return Number(String(seconds)) * 1000 + Number(String(micros)) / 1000
}

export class NodeRedisStore extends NodeRedisConnection implements RedisStore {
  get(key: string): Promise<Buffer | null> {
    return this.command<Buffer | null>('GET', key, ['GET', key], this.countRead)
  }

  /** One MGET of keys of one hash slot, through `run`. */
  protected mget(keys: string[]): Promise<(Buffer | null)[]> {
    return this.command<(Buffer | null)[]>('MGET', keys[0], ['MGET', ...keys])
  }

  protected get clustered(): boolean {
    return this.cluster !== undefined
  }

  async del(...keys: string[]): Promise<void> {
    await this.command('DEL', keys[0], ['DEL', ...keys])
  }

  protected async getText(key: string): Promise<string | null> {
    const value = await this.command<Buffer | null>('GET', key, ['GET', key])
    return value === null ? null : String(value)
  }

  protected unlockBehind(lockKey: string, token: string): void {
    this.send(lockKey, ['EVAL', UNLOCK.source, '1', lockKey, token]).catch(() => undefined)
  }

  /** WAIT on the master of each key's slot, on the connection that made the writes (see `waitOn`). */
  waitForReplicas(keys: readonly string[], replicas: number, timeoutMs: number): Promise<number> {
    const args = ['WAIT', String(replicas), String(timeoutMs)]
    const cluster = this.cluster
    if (cluster === undefined) return this.waitOn(() => [this.client as NodeClient], (node) => node.sendCommand(args) as Promise<number>, timeoutMs)
    const masters = (): Promise<NodeClient>[] => [...new Set(keys.map((key) => cluster.getSlotMaster(slotOf(key))))].map((m) => cluster.nodeClient(m) as Promise<NodeClient>)
    return this.waitOn(masters, async (node) => (await node).sendCommand(args) as Promise<number>, timeoutMs)
  }

  /** The server's clock in ms (with microseconds); on a cluster, its first master's. */
  async time(): Promise<number> {
    return msOf(await this.run('TIME', () => this.serverTime()))
  }

  private async serverTime(): Promise<unknown> {
    const [first] = await this.masters()
    if (first === undefined) throw new RedisError('redis: no master known, TIME not sent')
    return first.sendCommand(['TIME'])
  }

  probe(): Promise<number | undefined> {
    return this.probeWith(() => this.serverTime())
  }

  memoryPolicies(): Promise<{ maxmemory: number; policy: string }[]> {
    return this.memoryPoliciesOf(() => this.masters(), async (node) => String(await node.sendCommand(['INFO', 'memory'])))
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.command('PUBLISH', channel, ['PUBLISH', channel, message])
  }

  /** EVALSHA, falling back to EVAL once when the server does not know the script yet. */
  protected script(script: Script, keys: string[], args: ScriptArgument[]): Promise<unknown> {
    return this.run(script.name, async () => {
      const count = String(keys.length)
      try {
        return await this.send(keys[0], ['EVALSHA', script.sha, count, ...keys, ...args])
      } catch (error) {
        if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
        return await this.send(keys[0], ['EVAL', script.source, count, ...keys, ...args])
      }
    })
  }
}
