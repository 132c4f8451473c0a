import { expect } from 'chai'
import { tracingChannel } from 'node:diagnostics_channel'
import type { Redis } from 'ioredis'
import { BatchResultError, channels, type ComputeContext, type ReadContext, InvalidOptionError, MissingBatchValueError, type Cache, type CacheOptions } from '../../lib/index.ts'
import { slotOf } from '../../lib/redis/slot.ts'
import { readWithinCoherence } from '../support/coherence.ts'
import { eachTopology } from '../support/topology.ts'
import { heldRun, openedCaches } from '../fixtures/stampede-helpers.ts'

/**
 * Many keys in one call (`getMany`, `getOrSetMany`, `setMany`, `deleteMany`) on a single
 * node and on the cluster: the values, the function called once for the misses, the
 * round trips Redis counts, and each key's own options and errors.
 */

/** Calls of one Redis command on every master since the last CONFIG RESETSTAT that did not fail (an EVALSHA of a script not loaded yet fails). */
async function calls(nodes: readonly Redis[], command: string): Promise<number> {
  let total = 0
  for (const node of nodes) {
    const match = new RegExp(`cmdstat_${command}:calls=(\\d+).*failed_calls=(\\d+)`).exec(await node.info('commandstats'))
    total += Number(match?.[1] ?? 0) - Number(match?.[2] ?? 0)
  }
  return total
}

/** What a promise rejects with (it must reject). */
const failure = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => {
      throw new Error('expected a rejection')
    },
    (error: unknown) => error,
  )

const keysOf = (n: number, prefix = 'k'): string[] => Array.from({ length: n }, (_, i) => `${prefix}:${i}`)
const valueOf = (key: string): string => `value of ${key}`

eachTopology((t) => {
  describe('batches of keys', () => {
    const opened = openedCaches()
    const open = (options: CacheOptions = {}): Cache => opened({ redis: t.redis(), prefix: 'b', ...options })

    /** The hash slots of a namespace's user keys (one MGET and one script each on a Cluster). */
    const slotGroups = (keys: string[]): number => (t.name === 'single' ? 1 : new Set(keys.map((key) => slotOf(`b:default:${key}`))).size)

    it('computes a cold batch with one call of the function, one MGET, one lock script and one fill script', async () => {
      const cache = open()
      // Set-up: the stamps of the cache's scope tags are read once, by a first computation.
      await cache.getOrSet('warm', () => 'up')
      await Promise.all(t.nodes.map((node) => node.config('RESETSTAT')))
      const keys = keysOf(20)
      const asked: string[][] = []
      const values = await cache.getOrSetMany(keys, (missing) => {
        asked.push(missing)
        return missing.map(valueOf)
      })
      expect(values).to.deep.equal(keys.map(valueOf))
      expect(asked).to.deep.equal([keys])
      expect(await calls(t.nodes, 'mget')).to.equal(slotGroups(keys))
      // Redis counts the GETs inside the scripts: the read of each key, and the fill's check of its lock.
      expect(await calls(t.nodes, 'get')).to.equal(2 * keys.length)
      expect(await calls(t.nodes, 'evalsha') + (await calls(t.nodes, 'eval'))).to.equal(2 * slotGroups(keys))
      expect(cache.stats().computations).to.equal(1 + 20)
    })

    it('answers from L1 first, then one MGET for the rest, and computes only the misses', async () => {
      const writer = open()
      const reader = open()
      const keys = keysOf(10)
      await writer.setMany(keys.slice(0, 6).map((key) => [key, valueOf(key)] as const))
      // Until the reader's coherence is set up, values read from Redis are not kept in L1.
      while ((await reader.health()).coherence === 'degraded') await new Promise((resolve) => setTimeout(resolve, 10))
      await reader.getOrSet('k:0', () => 'never')
      await reader.getOrSet('warm', () => 'up')
      await Promise.all(t.nodes.map((node) => node.config('RESETSTAT')))
      const before = reader.stats()
      const asked: string[][] = []
      const values = await reader.getOrSetMany(keys, (missing) => {
        asked.push(missing)
        return new Map(missing.map((key) => [key, valueOf(key)]))
      })
      expect(values).to.deep.equal(keys.map(valueOf))
      expect(asked).to.deep.equal([keys.slice(6)])
      // k:0 came from L1: the MGET asked for the nine others.
      expect(await calls(t.nodes, 'mget')).to.equal(slotGroups(keys.slice(1)))
      const stats = reader.stats()
      expect(stats.l2.hits - before.l2.hits).to.equal(5)
      expect(stats.l1.hits - before.l1.hits).to.equal(1)
    })

    it('gets, sets and deletes many keys, in order, with undefined for a key not there', async () => {
      const writer = open()
      const reader = open()
      await writer.setMany(new Map([['a', 1], ['b', 2]]), { ttl: '1m', tags: (key, value) => [`n:${value}`, `k:${key}`] })
      expect(await reader.getMany(['a', 'x', 'b'])).to.deep.equal([1, undefined, 2])
      await reader.invalidateTags(['k:a'])
      expect(await reader.getMany(['a', 'b'])).to.deep.equal([undefined, 2])
      await writer.deleteMany(['b', 'x'])
      // The reader hears of the delete just after the writer's answer.
      expect(await readWithinCoherence(() => reader.getMany(['a', 'b']), (values) => values[1] === undefined)).to.deep.equal([undefined, undefined])
      expect(await t.client.exists('b:default:b')).to.equal(0)
    })

    it('tags each value by its key and value, and invalidates them one by one', async () => {
      const cache = open()
      const keys = keysOf(3)
      let runs = 0
      const factory = (missing: string[]): string[] => {
        runs += missing.length
        return missing.map(valueOf)
      }
      await cache.getOrSetMany(keys, factory, { tags: (key, value) => [`tag:${key}`, `len:${value.length}`] })
      await cache.invalidateTags(['tag:k:1'])
      expect(await cache.getOrSetMany(keys, factory, { tags: (key) => [`tag:${key}`] })).to.deep.equal(keys.map(valueOf))
      expect(runs).to.equal(4)
    })

    it('resolves a key the function leaves out to undefined and stores nothing for it, or rejects it with missing: error', async () => {
      const cache = open()
      let asked: string[] = []
      const factory = (keys: string[]): (string | undefined)[] => {
        asked = keys
        return keys.map((key) => (key === 'k:1' ? undefined : valueOf(key)))
      }
      expect(await cache.getOrSetMany(keysOf(3), factory)).to.deep.equal(['value of k:0', undefined, 'value of k:2'])
      expect(await cache.getOrSetMany(keysOf(3), factory)).to.deep.equal(['value of k:0', undefined, 'value of k:2'])
      expect(asked).to.deep.equal(['k:1'])
      const error = (await failure(cache.getOrSetMany(keysOf(3), factory, { missing: 'error' }))) as MissingBatchValueError
      expect(error).to.be.instanceOf(MissingBatchValueError)
      expect(error.code).to.equal('ERR_BATCH_MISSING')
      expect(error.id).to.equal('k:1')
    })

    it('fails every key of a batch that throws and remembers nothing, unless errorTtl says so', async () => {
      const cache = open()
      let runs = 0
      const failing = (): never => {
        runs++
        throw new Error('db down')
      }
      expect(await failure(cache.getOrSetMany(keysOf(3), failing))).to.have.property('message', 'db down')
      expect(await failure(cache.getOrSetMany(keysOf(3), failing))).to.have.property('message', 'db down')
      expect(runs).to.equal(2)
      expect(await cache.getMany(keysOf(3))).to.deep.equal([undefined, undefined, undefined])
      expect(await failure(cache.getOrSetMany(['e:1', 'e:2'], failing, { errorTtl: '1m' }))).to.have.property('message', 'db down')
      expect(await failure(cache.getOrSetMany(['e:1', 'e:2'], failing, { errorTtl: '1m' }))).to.have.property('message', 'db down')
      expect(runs).to.equal(3)
    })

    it('refuses a result that is not one value per key or a Map', async () => {
      const cache = open()
      expect(await failure(cache.getOrSetMany(keysOf(3), () => ['one']))).to.be.instanceOf(BatchResultError).and.to.have.property('message').that.includes('1 values for 3 keys')
      expect(await failure(cache.getOrSetMany(keysOf(3), () => 'nope' as unknown as string[]))).to.be.instanceOf(BatchResultError).and.to.have.property('message').that.includes('array')
    })

    it('serves a stale value per key within grace when the batch fails', async () => {
      const cache = open({ ttl: 50, grace: '1m' })
      await cache.getOrSetMany(['s:1', 's:2'], (keys) => keys.map(valueOf))
      await new Promise((resolve) => setTimeout(resolve, 80))
      const errors: unknown[] = []
      cache.on('error', ({ error }) => errors.push(error))
      expect(await cache.getOrSetMany(['s:1', 's:2'], () => Promise.reject(new Error('down')))).to.deep.equal(['value of s:1', 'value of s:2'])
      expect(cache.stats().staleByReason.error).to.equal(2)
      // A key without a stale value fails with the batch's error.
      expect(await failure(cache.getOrSetMany(['s:1', 's:3'], () => Promise.reject(new Error('down'))))).to.have.property('message', 'down')
    })

    it('joins a computation of the same key already under way in this process', async () => {
      const cache = open()
      const { result: single, gate } = await heldRun((fn) => cache.getOrSet('k:1', fn))
      const asked: string[][] = []
      const batch = cache.getOrSetMany(keysOf(3), (keys) => {
        asked.push(keys)
        return keys.map(valueOf)
      })
      gate.resolve('from the single call')
      expect(await batch).to.deep.equal(['value of k:0', 'from the single call', 'value of k:2'])
      expect(await single).to.equal('from the single call')
      expect(asked).to.deep.equal([['k:0', 'k:2']])
    })

    it('traces, counts and tells each key as a single call does: the read and compute channels, the events', async () => {
      const cache = open()
      const reads: ReadContext[] = []
      const computes: ComputeContext[] = []
      const onRead = { start: (c: unknown) => reads.push(c as ReadContext) }
      const onCompute = { start: (c: unknown) => computes.push(c as ComputeContext) }
      tracingChannel(channels.read).subscribe(onRead as never)
      tracingChannel(channels.compute).subscribe(onCompute as never)
      const events: string[] = []
      cache.on('compute', ({ key }) => events.push(`compute ${key}`))
      cache.on('set', ({ key }) => events.push(`set ${key}`))
      try {
        await cache.getOrSetMany(keysOf(3), (keys) => keys.map(valueOf))
      } finally {
        tracingChannel(channels.read).unsubscribe(onRead as never)
        tracingChannel(channels.compute).unsubscribe(onCompute as never)
      }
      const full = keysOf(3).map((key) => `b:default:${key}`)
      expect(reads.map((c) => c.key)).to.deep.equal(full)
      expect(reads.map((c) => c.status)).to.deep.equal(['miss', 'miss', 'miss'])
      expect(computes.map((c) => c.key)).to.deep.equal(full)
      expect(events.sort()).to.deep.equal([...full.map((key) => `compute ${key}`), ...full.map((key) => `set ${key}`)].sort())
      expect(cache.stats().l2.misses).to.equal(3)
    })

    it('refuses bad arguments and options with InvalidOptionError', async () => {
      const cache = open()
      expect(await failure(cache.getOrSetMany('k' as unknown as string[], () => []))).to.be.instanceOf(InvalidOptionError).and.to.have.property('message').that.includes('array of keys')
      expect(await failure(cache.getOrSetMany(['k'], 'f' as unknown as () => string[]))).to.be.instanceOf(InvalidOptionError).and.to.have.property('message').that.includes('function')
      expect(await failure(cache.getOrSetMany(['k'], () => [1], { tll: 1 } as never))).to.be.instanceOf(InvalidOptionError).and.to.have.property('message').that.includes('no option "tll"')
      expect(await failure(cache.getOrSetMany(['k'], () => [1], { missing: 'skip' } as never))).to.be.instanceOf(InvalidOptionError).and.to.have.property('message').that.includes('missing')
      expect(await failure(cache.getMany(['']))).to.be.instanceOf(InvalidOptionError)
      expect(await failure(cache.setMany([['k']] as never))).to.be.instanceOf(InvalidOptionError).and.to.have.property('message').that.includes('pairs')
      expect(await failure(cache.setMany([['k', 1]], { errorTtl: 1 } as never))).to.be.instanceOf(InvalidOptionError).and.to.have.property('message').that.includes('no option "errorTtl"')
    })
  })
})
