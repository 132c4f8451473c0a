import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import { RedisError } from '../errors.ts'
import { connect, isCluster, type Client, type RedisSource } from './client.ts'

/**
 * L2 over ioredis. Every command goes through {@link RedisTier.run}: it is refused at once
 * while the circuit is open or the connection is not ready, and fails after `timeoutMs`.
 * The connection is memoredis's own (a template client is duplicated, never used), with
 * the offline queue off, so that a write can never be replayed late after a reconnect.
 * No command names more than one key: a Cluster never sees CROSSSLOT.
 */

/** What the tier tells its owner. */
export interface RedisTierEvents {
  error(error: RedisError): void
  circuit(state: 'open' | 'close'): void
  /** The connection is up; a returned promise is part of a new cache's start (see `whenStarted`). */
  ready(): Promise<void> | void
  close(): void
}

export interface RedisTierOptions {
  timeoutMs: number
  connectWaitMs: number
  circuitFailures: number
  circuitResetAfterMs: number
  events: RedisTierEvents
}

// Answers {-1 (won) or the holder's PTTL, the server's clock in ms}: the winner stamps its
// value's \`created\` with the server's own time, taken before the function starts.
const LOCK_ACQUIRE = `local t = redis.call('time')
local now = string.format('%.3f', tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000)
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {-1, now} end
return {redis.call('pttl', KEYS[1]), now}`
const LOCK_RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0`
const LOCK_EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0`
// Stamps a tag with the server's clock (one clock for every process), never moving it back.
// In ms with the microseconds kept (a string: Lua numbers reach the client as integers),
// so that an entry computed later in the same millisecond is still after the stamp. Never
// ahead of the clock either: a +1 per stamp made busy tags run ahead and refuse new entries.
const TAG_STAMP = `local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local old = tonumber(redis.call('get', KEYS[1]) or '0') or 0
if old > now then now = old end
local stamp = string.format('%.3f', now)
redis.call('set', KEYS[1], stamp, 'PX', ARGV[1])
return stamp`

const sha = (script: string): string => createHash('sha1').update(script).digest('hex')
const SHAS = new Map([LOCK_ACQUIRE, LOCK_RELEASE, LOCK_EXTEND, TAG_STAMP].map((s) => [s, sha(s)]))

export class RedisTier {
  readonly client: Client
  private readonly options: RedisTierOptions
  private failures = 0
  private openedAt = 0
  private state: 'closed' | 'open' | 'probing' = 'closed'
  private firstReady: Promise<void> | undefined
  private closed = false

  constructor(source: RedisSource, options: RedisTierOptions) {
    this.options = options
    this.client = connect(source)
    this.client.on('error', (error: Error) => {
      if (!this.closed) options.events.error(new RedisError(`redis: ${error.message}`, { cause: error }))
    })
    let started: ((settingUp: Promise<void> | void) => void) | undefined
    this.client.on('ready', () => {
      // A fresh connection is the best probe there is.
      if (this.state !== 'closed') this.closeCircuit()
      this.failures = 0
      const settingUp = options.events.ready()
      started?.(settingUp)
      started = undefined
    })
    this.client.on('close', () => {
      if (!this.closed) options.events.close()
    })
    // Started: the first connection is up and its set-up (the clock) done, or connectWait passed.
    this.firstReady = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, options.connectWaitMs)
      timer.unref()
      started = (settingUp) => {
        const done = (): void => {
          clearTimeout(timer)
          resolve()
        }
        if (settingUp === undefined) done()
        else settingUp.then(done, done)
      }
    }).then(() => {
      this.firstReady = undefined
    })
  }

  /**
   * True while optional commands are worth sending: connected, the circuit closed, and
   * the last command did not fail. After one failure (a timeout, most likely a paused or
   * overloaded server) a call stops at the first Redis command that failed instead of
   * paying the timeout again for the lock, the write and tag stamps; the next read is
   * still sent and, when it succeeds, makes the tier available again.
   */
  get available(): boolean {
    return this.client.status === 'ready' && this.state === 'closed' && this.failures === 0
  }

  /** The circuit's state: `'open'` while no command is sent, `'probing'` while one decides. */
  get circuit(): 'closed' | 'open' | 'probing' {
    return this.state
  }

  /**
   * Resolves once the first connection is up and set up (the owner's `ready` work, e.g.
   * measuring the server's clock), or `connectWait` has passed: a cache created a moment
   * ago shares its first values instead of skipping Redis, and stamps them on a measured clock.
   */
  whenStarted(): Promise<void> | undefined {
    return this.firstReady
  }

  /** Runs one command with the timeout and the circuit breaker. */
  run<T>(name: string, command: (client: Client) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new RedisError('redis: the cache is closed'))
    if (this.state !== 'closed') {
      if (this.state === 'probing' || Date.now() - this.openedAt < this.options.circuitResetAfterMs) {
        return Promise.reject(new RedisError(`redis: circuit open, ${name} not sent`, { code: 'ERR_CIRCUIT_OPEN' }))
      }
      this.state = 'probing'
    }
    if (this.client.status !== 'ready') {
      return Promise.reject(this.failed(new RedisError(`redis: not connected (${this.client.status}), ${name} not sent`)))
    }
    return new Promise<T>((resolve, reject) => {
      let timedOut = false
      const timer = setTimeout(() => {
        timedOut = true
        reject(
          this.failed(new RedisError(`redis: ${name} timed out after ${this.options.timeoutMs}ms`, { code: 'ERR_REDIS_TIMEOUT' })),
        )
      }, this.options.timeoutMs)
      command(this.client).then(
        (value) => {
          clearTimeout(timer)
          // A late answer (after the timeout) still says that Redis answers again.
          this.succeeded()
          resolve(value)
        },
        (error: unknown) => {
          clearTimeout(timer)
          if (timedOut) return // counted once, as the timeout
          const message = error instanceof Error ? error.message : String(error)
          reject(this.failed(new RedisError(`redis: ${name} failed: ${message}`, { cause: error })))
        },
      )
    })
  }

  private succeeded(): void {
    this.failures = 0
    if (this.state !== 'closed') this.closeCircuit()
  }

  private failed(error: RedisError): RedisError {
    this.failures++
    if (this.state === 'probing' || (this.state === 'closed' && this.failures >= this.options.circuitFailures)) {
      const wasClosed = this.state === 'closed'
      this.state = 'open'
      this.openedAt = Date.now()
      if (wasClosed) this.options.events.circuit('open')
    }
    return error
  }

  private closeCircuit(): void {
    this.state = 'closed'
    this.failures = 0
    this.options.events.circuit('close')
  }

  get(key: string): Promise<Buffer | null> {
    return this.run('GET', (c) => c.getBuffer(key))
  }

  async set(key: string, value: Buffer, ttlMs: number): Promise<void> {
    await this.run('SET', (c) => c.set(key, value, 'PX', Math.max(1, Math.ceil(ttlMs))))
  }

  async del(key: string): Promise<void> {
    await this.run('DEL', (c) => c.del(key))
  }

  /**
   * Takes the lock. `holderMs` is -1 when won, else the holder's remaining ms (-2/-1 from
   * PTTL when it just went); `serverNow` is the server's clock (ms) when it was tried.
   */
  async acquireLock(key: string, token: string, ttlMs: number): Promise<{ holderMs: number; serverNow: number }> {
    try {
      const [holderMs, serverNow] = (await this.script('LOCK', LOCK_ACQUIRE, key, token, String(ttlMs))) as [number, number]
      return { holderMs: Number(holderMs), serverNow: Number(serverNow) }
    } catch (error) {
      if (error instanceof RedisError && error.code === 'ERR_REDIS_TIMEOUT') {
        // The SET NX may still run when a slow server gets to it, leaving a lock nobody
        // holds: queue a compare-and-delete behind it, on the same connection, outside
        // the breaker (best effort, nobody waits for it).
        this.client.eval(LOCK_RELEASE, 1, key, token).catch(() => undefined)
      }
      throw error
    }
  }

  /** Releases the lock only if `token` still holds it (compare-and-delete). */
  async releaseLock(key: string, token: string): Promise<void> {
    await this.script('UNLOCK', LOCK_RELEASE, key, token)
  }

  /** Extends the lock only if `token` still holds it; false when it was lost. */
  async extendLock(key: string, token: string, ttlMs: number): Promise<boolean> {
    return Number(await this.script('LOCK EXTEND', LOCK_EXTEND, key, token, String(ttlMs))) === 1
  }

  /** Sets a tag's stamp to the server's time in ms (kept `ttlMs`); returns it. */
  async stampTag(key: string, ttlMs: number): Promise<number> {
    return Number(await this.script('TAG STAMP', TAG_STAMP, key, String(ttlMs)))
  }

  /** Reads a tag's stamp (0 when the tag was never invalidated, or long ago). */
  async getStamp(key: string): Promise<number> {
    const value = await this.run('GET', (c) => c.get(key))
    const stamp = value === null ? 0 : Number(value)
    return Number.isFinite(stamp) ? stamp : 0
  }

  /** The server's clock in ms (with microseconds). */
  async time(): Promise<number> {
    const [seconds, micros] = await this.run('TIME', (c) =>
      isCluster(c) ? (c.nodes('master')[0] as Redis).time() : c.time(),
    )
    return Number(seconds) * 1000 + Number(micros) / 1000
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.run('PUBLISH', (c) => c.publish(channel, message))
  }

  private script(name: string, script: string, key: string, ...args: string[]): Promise<unknown> {
    const digest = SHAS.get(script) as string
    return this.run(name, async (c) => {
      try {
        return await c.evalsha(digest, 1, key, ...args)
      } catch (error) {
        if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
        return await c.eval(script, 1, key, ...args)
      }
    })
  }

  /** Closes the connection: QUIT, but no longer than the command timeout (a paused server never answers). */
  async close(): Promise<void> {
    this.closed = true
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      this.client.quit().catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, this.options.timeoutMs))),
    ])
    clearTimeout(timer)
    this.client.disconnect()
  }
}
