import { expect } from 'chai'
import express from 'express'
import { createServer, type Server } from 'node:http'
import { isDeepStrictEqual } from 'node:util'
import { expressCache } from '../../lib/http/express.ts'
import { createCache, InvalidateTags, InvalidOptionError, type Cache } from 'memoredis'
import { expiredAt } from '../../lib/engine/policies.ts'
import { Child } from '../support/child.ts'
import { readWithinCoherence } from '../support/coherence.ts'
import { call, closeServers, listen } from '../support/http.ts'
import { useRedis } from '../support/redis.ts'
import { RedisServer } from '../support/redis-server.ts'
import { eachTopology, type TopologyHandle } from '../support/topology.ts'

/**
 * Soft invalidation (`{ soft: true }`): the entries are stale at once in every process,
 * never fresh again, but kept as the grace fallback. Processes are real children: one
 * that wrote the values (and holds them in L1), one that invalidates, and a new one.
 */

const WORKER = new URL('../fixtures/soft-worker.ts', import.meta.url)
const DOWN = 'the database is down'
const KINDS = ['tag', 'delete', 'fn', 'namespace', 'cache'] as const
type Kind = (typeof KINDS)[number]
/** Which of the worker's two entries each kind covers: the plain key `k`, the memoized `f`. */
const COVERS: Record<Kind, { k: boolean; f: boolean }> = {
  tag: { k: true, f: true },
  delete: { k: true, f: false },
  fn: { k: false, f: true },
  namespace: { k: true, f: true },
  cache: { k: true, f: true },
}
type Read = { k: number | string; f: number | string }

/** What a read finds for each entry: `covered` for those the invalidation covers, `other` for the rest. */
const expected = (kind: Kind, covered: number | string | undefined, other: number | undefined): Record<'k' | 'f', unknown> => ({
  k: COVERS[kind].k ? covered : other,
  f: COVERS[kind].f ? covered : other,
})

/**
 * Deletes every key matching `pattern` on every node, as an `allkeys-*` policy evicts
 * stamps and floors first (`DEL` is reported to tracking clients as an eviction is; see
 * `eviction.spec.ts`).
 */
async function evict(t: TopologyHandle, pattern: string): Promise<void> {
  for (const node of t.nodes) {
    for (const key of await node.keys(pattern)) await t.client.del(key)
  }
}

eachTopology((t) => {
  describe('soft invalidation across processes', function () {
    this.timeout(60_000)
    let writer: Child
    let invalidator: Child
    before(async () => {
      ;[writer, invalidator] = await Promise.all([Child.start(WORKER, t.env()), Child.start(WORKER, t.env())])
    })
    after(async () => {
      await Promise.all([writer.stop(), invalidator.stop()])
    })

    for (const kind of KINDS) {
      it(`${kind}: stale at once in every process, the fallback when the function throws, gone after a hard one`, async () => {
        const prefix = `soft-${kind}`
        expect(await writer.call<Read>('read', prefix, 'a', 1)).to.deep.equal({ k: 1, f: 1 })
        await invalidator.call('invalidate', prefix, kind, 'a', true)
        const reader = await Child.start(WORKER, t.env())
        try {
          for (const [name, p] of [['the writer', writer], ['a new process', reader]] as const) {
            expect(await p.call('peek', prefix, 'a'), `${name}: never fresh again`).to.deep.equal(expected(kind, undefined, 1))
            const read = await p.call<Read>('read', prefix, 'a', undefined)
            expect(read, `${name}: the fallback (errors: ${(await p.call<string[]>('errors')).join('; ')})`).to.deep.equal({ k: 1, f: 1 })
          }
          await invalidator.call('invalidate', prefix, kind, 'a', false)
          const since = performance.now()
          const gone = expected(kind, DOWN, 1)
          for (const p of [writer, reader]) {
            // The other processes hear of the hard invalidation within the coherence bound.
            const read = await readWithinCoherence(() => p.call<Read>('read', prefix, 'a', undefined), (v) => isDeepStrictEqual(v, gone), since)
            expect(read).to.deep.equal(gone)
          }
          expect(await reader.call<Read>('read', prefix, 'a', 2)).to.deep.equal(expected(kind, 2, 1))
          expect(await writer.call<Read>('read', prefix, 'a', 3)).to.deep.equal(expected(kind, 2, 1))
        } finally {
          await reader.stop()
        }
      })
    }

    it('a softly invalidated value is recomputed by the next call that can: never served fresh again', async () => {
      const prefix = 'soft-recompute'
      expect(await writer.call<Read>('read', prefix, 'a', 1)).to.deep.equal({ k: 1, f: 1 })
      await invalidator.call('invalidate', prefix, 'tag', 'a', true)
      expect(await writer.call<Read>('read', prefix, 'a', 2)).to.deep.equal({ k: 2, f: 2 })
      expect(await invalidator.call('peek', prefix, 'a')).to.deep.equal({ k: 2, f: 2 })
    })

    for (const kind of ['tag', 'cache'] as const) {
      it(`${kind}: after its stamp is evicted, the entries are still stale (never fresh) and the fallback (its bucket's floor)`, async () => {
        const prefix = `soft-evicted-${kind}`
        expect(await writer.call<Read>('read', prefix, 'a', 1)).to.deep.equal({ k: 1, f: 1 })
        await invalidator.call('invalidate', prefix, kind, 'a', true)
        await evict(t, `${prefix}:!tag:*`)
        const reader = await Child.start(WORKER, t.env())
        try {
          for (const p of [writer, reader]) {
            expect(await p.call('peek', prefix, 'a')).to.deep.equal({ k: undefined, f: undefined })
            expect(await p.call<Read>('read', prefix, 'a', undefined)).to.deep.equal({ k: 1, f: 1 })
          }
        } finally {
          await reader.stop()
        }
      })

      it(`${kind}: after its stamp and its floor are evicted, the entries count as invalidated hard (never fresh, no fallback)`, async () => {
        const prefix = `soft-evicted-all-${kind}`
        expect(await writer.call<Read>('read', prefix, 'a', 1)).to.deep.equal({ k: 1, f: 1 })
        await invalidator.call('invalidate', prefix, kind, 'a', true)
        await evict(t, `${prefix}:!*`)
        const reader = await Child.start(WORKER, t.env())
        try {
          for (const p of [writer, reader]) {
            expect(await p.call('peek', prefix, 'a')).to.deep.equal({ k: undefined, f: undefined })
            expect(await p.call<Read>('read', prefix, 'a', undefined)).to.deep.equal({ k: DOWN, f: DOWN })
          }
          expect(await reader.call<Read>('read', prefix, 'a', 2)).to.deep.equal({ k: 2, f: 2 })
        } finally {
          await reader.stop()
        }
      })
    }
  })

  describe('soft invalidation across processes, L1 kept true by the bus', function () {
    this.timeout(60_000)
    let writer: Child
    let invalidator: Child
    before(async () => {
      const env = { ...t.env(), COHERENCE: 'bus' }
      ;[writer, invalidator] = await Promise.all([Child.start(WORKER, env), Child.start(WORKER, env)])
    })
    after(async () => {
      await Promise.all([writer.stop(), invalidator.stop()])
    })

    for (const kind of ['tag', 'delete'] as const) {
      it(`${kind}: the writer's L1 copy goes stale at once, and is the fallback`, async () => {
        const prefix = `soft-bus-${kind}`
        expect(await writer.call<Read>('read', prefix, 'a', 1)).to.deep.equal({ k: 1, f: 1 })
        await invalidator.call('invalidate', prefix, kind, 'a', true)
        expect(await writer.call('peek', prefix, 'a')).to.deep.equal(expected(kind, undefined, 1))
        expect(await writer.call<Read>('read', prefix, 'a', undefined)).to.deep.equal({ k: 1, f: 1 })
        expect(await writer.call<Read>('read', prefix, 'a', 2)).to.deep.equal(expected(kind, 2, 1))
      })
    }
  })

  describe('soft invalidation in one process', () => {
    let cache: Cache
    let other: Cache
    beforeEach(() => {
      cache = createCache({ redis: t.redis(), prefix: 'soft1', ttl: '1h', grace: '1h' })
      other = createCache({ redis: t.redis(), prefix: 'soft1', ttl: '1h', grace: '1h' })
    })
    afterEach(async () => {
      await Promise.all([cache.close(), other.close()])
    })

    it('serves the stale value after the soft timeout, while the recomputation goes on and lands', async () => {
      await cache.getOrSet('slow', async () => 1, { tags: ['t'] })
      await cache.invalidateTags(['t'], { soft: true })
      let release!: (value: number) => void
      const running = new Promise<number>((resolve) => (release = resolve))
      const landed = new Promise<void>((resolve) => cache.on('set', () => resolve()))
      const result = await cache.getOrSetEntry('slow', () => running, { tags: ['t'], timeout: { soft: '20ms' } })
      expect(result).to.include({ value: 1, status: 'stale' })
      release(2)
      await landed
      expect(await other.getOrSet('slow', async () => 3, { tags: ['t'] })).to.equal(2)
    })

    it('with staleWhileRevalidate, serves the stale value to every caller while exactly one refresh runs', async () => {
      await cache.getOrSet('swr', async () => 1, { tags: ['t'] })
      await cache.invalidateTags(['t'], { soft: true })
      let runs = 0
      let release!: () => void
      const gate = new Promise<void>((resolve) => (release = resolve))
      const factory = async (): Promise<number> => {
        runs++
        await gate
        return 2
      }
      const refreshed = new Promise<void>((resolve) => cache.on('refresh', () => resolve()))
      const results = await Promise.all(Array.from({ length: 20 }, () => cache.getOrSetEntry('swr', factory, { tags: ['t'], staleWhileRevalidate: true })))
      expect(results.map((r) => [r.value, r.status])).to.deep.equal(Array.from({ length: 20 }, () => [1, 'stale']))
      release()
      await refreshed
      expect(runs).to.equal(1)
      expect(await other.get('swr')).to.equal(2)
    })

    it('with grace 0 there is nothing to fall back on: soft is the same as hard', async () => {
      await cache.getOrSet('g0', async () => 1, { grace: 0, tags: ['t'] })
      await cache.set('d0', 1, { grace: 0 })
      await cache.invalidateTags(['t'], { soft: true })
      await cache.delete('d0', { soft: true })
      const fail = async (): Promise<number> => Promise.reject(new Error(DOWN))
      for (const c of [cache, other]) {
        expect(await c.getOrSet('g0', fail, { grace: 0, tags: ['t'] }).catch((e: Error) => e.message)).to.equal(DOWN)
        expect(await c.getOrSet('d0', fail, { grace: 0 }).catch((e: Error) => e.message)).to.equal(DOWN)
      }
    })

    it('a soft delete takes the lock: a computation under way stores nothing, and the stale copy stays', async () => {
      await cache.set('busy', 1)
      await cache.delete('busy', { soft: true })
      let release!: () => void
      const gate = new Promise<void>((resolve) => (release = resolve))
      let started!: () => void
      const running = new Promise<void>((resolve) => (started = resolve))
      // Runs under the lock: the soft delete before it left no fresh value.
      const computing = cache.getOrSet('busy', async () => {
        started()
        await gate
        return 2
      })
      await running
      await other.delete('busy', { soft: true })
      release()
      expect(await computing).to.equal(2)
      expect(await other.getOrSet('busy', async () => Promise.reject(new Error(DOWN)))).to.equal(1)
    })

    it('@InvalidateTags({ soft: true }) and fn.clear({ soft: true }) keep the fallback', async () => {
      const find = cache.memoize(async (id: string) => `${id}@1`, { name: 'find', tags: (args) => [`item:${args[0]}`] })
      const failing = other.memoize(async (_id: string): Promise<string> => Promise.reject(new Error(DOWN)), { name: 'find', tags: (args) => [`item:${args[0]}`] })
      expect(await find('x')).to.equal('x@1')
      const rename = InvalidateTags(['item:x'], { cache, soft: true })(async () => 'renamed', { kind: 'method', name: 'rename' } as ClassMethodDecoratorContext)
      expect(await rename()).to.equal('renamed')
      expect(await failing.peek('x')).to.equal(undefined)
      expect(await failing('x')).to.equal('x@1')
      await find.refresh('x')
      await find.clear({ soft: true })
      expect(await failing.peek('x')).to.equal(undefined)
      expect(await failing('x')).to.equal('x@1')
    })

    it('refuses anything but { soft: boolean } as an invalidation option', async () => {
      const refused = async (p: Promise<unknown>, message: RegExp): Promise<void> => {
        const error = await p.then(() => undefined, (e: unknown) => e)
        expect(error).to.be.instanceOf(InvalidOptionError)
        expect((error as Error).message).to.match(message)
      }
      await refused(cache.invalidateTags(['t'], { sfot: true } as never), /invalidateTags has no option "sfot"/)
      await refused(cache.delete('k', { soft: 'yes' } as never), /delete: soft must be true or false/)
      await refused(cache.clear(null as never), /clear: options must be an object/)
      const fn = cache.memoize(async () => 1, { name: 'opt' })
      await refused(fn.clear({ hard: true } as never), /clear has no option "hard"/)
      expect(() => InvalidateTags(['t'], { cache, soft: 1 as never })).to.throw(InvalidOptionError, /soft must be true or false/)
    })
  })
})

describe('soft invalidation while Redis does not answer (a paused server)', () => {
  let server: RedisServer
  let cache: Cache
  before(async () => {
    server = await RedisServer.start()
  })
  afterEach(async () => {
    server.signal('SIGCONT')
    await cache.close()
  })
  after(async () => {
    await server.stop()
  })

  for (const how of ['tag', 'delete', 'clear'] as const) {
    it(`${how}: the stale copy kept in L1 is the fallback when the function throws`, async () => {
      cache = createCache({ redis: server.url, prefix: `paused-${how}`, ttl: '1h', grace: '1h', redisTimeout: 200 })
      cache.on('error', () => {})
      await cache.getOrSet('a', async () => 1, { tags: ['t'] })
      if (how === 'tag') await cache.invalidateTags(['t'], { soft: true })
      else if (how === 'delete') await cache.delete('a', { soft: true })
      else await cache.clear({ soft: true })
      expect(await cache.get('a')).to.equal(undefined)
      server.signal('SIGSTOP')
      const result = await cache.getOrSetEntry('a', async () => Promise.reject(new Error(DOWN)), { tags: ['t'] })
      expect(result).to.include({ value: 1, status: 'stale' })
    })
  }
})

describe('expiredAt: what a soft invalidation leaves of an entry', () => {
  const entry = { value: 1, created: 1000, freshUntil: 5000, staleUntil: 6000, tags: [] }
  it('ends freshness at the invalidation, and keeps the grace from then, never longer than it had', () => {
    expect(expiredAt(entry, 2000, 2000)).to.include({ freshUntil: 2000, staleUntil: 3000 })
    expect(expiredAt(entry, 5500, 5500)).to.include({ freshUntil: 5000, staleUntil: 6000 })
  })
  it('leaves nothing past the grace, or with no grace', () => {
    expect(expiredAt(entry, 2000, 3000)).to.equal(undefined)
    expect(expiredAt({ ...entry, staleUntil: 5000 }, 2000, 2000)).to.equal(undefined)
  })
})

describe('soft invalidation beside the HTTP middleware (Express, real HTTP)', () => {
  const redis = useRedis()
  const servers: Server[] = []
  let cache: Cache
  afterEach(async () => {
    closeServers(servers)
    await cache.close()
  })

  it('a soft tag drops the responses it covers (no engine grace) and keeps the memoized entries as fallbacks; a write still drops its URL', async () => {
    cache = createCache({ redis: redis.url, prefix: 'soft-http', ttl: '1h', grace: '1h' })
    let runs = 0
    const app = express()
    app.use(expressCache({ cache, ttl: '1h', tags: () => ['product'] }))
    app.get('/p', (_req, res) => void res.send(`v${++runs}`))
    app.post('/p', (_req, res) => void res.send('written'))
    const server = createServer(app)
    servers.push(server)
    const url = await listen(server)
    let fail = false
    const price = cache.memoize(async (_id: string) => (fail ? Promise.reject(new Error(DOWN)) : 100), { name: 'price', tags: () => ['product'] })
    expect(await price('x')).to.equal(100)
    expect([(await call(url, '/p')).body, (await call(url, '/p')).headers['x-cache']]).to.deep.equal(['v1', 'HIT'])
    await cache.invalidateTags(['product'], { soft: true })
    const after = await call(url, '/p')
    expect([after.body, after.headers['x-cache']]).to.deep.equal(['v2', 'MISS'])
    fail = true
    expect(await price('x')).to.equal(100)
    // The middleware deletes the URL once the write's response is finished; the next
    // request's GET goes after that DEL on the same connection.
    const deleted = new Promise<boolean>((resolve) => cache.on('delete', ({ soft }) => resolve(soft)))
    expect((await call(url, '/p', { method: 'POST' })).body).to.equal('written')
    expect(await deleted).to.equal(false)
    const written = await call(url, '/p')
    expect([written.body, written.headers['x-cache']]).to.deep.equal(['v3', 'MISS'])
    expect(await price('x')).to.equal(100)
  })
})
