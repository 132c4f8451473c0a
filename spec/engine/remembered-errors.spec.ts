import { expect } from 'chai'
import type { Cluster } from 'ioredis'
import { createCache, type Cache, type CacheOptions, type Memoized } from 'memoredis'
import { KeyLayout } from '../../lib/keys/layout.ts'
import { slotOf } from '../../lib/redis/slot.ts'
import { deferred } from '../fixtures/stampede-helpers.ts'
import { coreOf } from '../support/internals.ts'
import { eachTopology, type TopologyHandle } from '../support/topology.ts'

/**
 * Remembered errors (`errorTtl`) are forgotten by any invalidation that covers their
 * key: with an error remembered, the next call rethrows it without running the
 * function, until `clear()` (of the cache, a namespace or the function), a tag of the
 * function's entries, or `invalidate` of its arguments makes the next call run it again.
 * Stamps (clear, tags) issued by another cache on the same Redis reach this one too.
 */

/** A memoized function of `view` that always throws a new error, counting its runs. */
function failing(view: Cache, tags: readonly string[] = ['row:1']): { fn: Memoized<[number], number>; runs(): number } {
  let runs = 0
  const fn = view.memoize(
    async (id: number): Promise<number> => {
      runs++
      throw new Error(`row ${id}: failure ${runs}`)
    },
    { name: 'loadRow', errorTtl: '1m', tags },
  )
  return { fn, runs: () => runs }
}

const rejection = (promise: Promise<unknown>): Promise<Error> =>
  promise.then(
    () => {
      throw new Error('expected a rejection')
    },
    (error: unknown) => error as Error,
  )

/** One invalidation covering row 1, issued through a cache (its root), the function's view, or the function. */
interface Forget {
  name: string
  /** Where the function lives. */
  view(cache: Cache): Cache
  run(w: { root: Cache; view: Cache; fn: Memoized<[number], number> }): Promise<void>
}

const forgets: Forget[] = [
  { name: 'cache.clear()', view: (c) => c, run: ({ root }) => root.clear() },
  { name: 'namespace.clear()', view: (c) => c.namespace('rows'), run: ({ view }) => view.clear() },
  { name: 'cache.clear() of the root, for a function in a namespace', view: (c) => c.namespace('rows'), run: ({ root }) => root.clear() },
  { name: 'fn.clear()', view: (c) => c, run: ({ fn }) => fn.clear() },
  { name: 'invalidateTags() of a tag its entries carry', view: (c) => c, run: ({ root }) => root.invalidateTags(['row:1']) },
  { name: 'fn.invalidate(args)', view: (c) => c, run: ({ fn }) => fn.invalidate(1) },
]

/** Remembers an error for row 1 and checks that it is rethrown without a run; resolves with it. */
async function remember(f: ReturnType<typeof failing>): Promise<Error> {
  const first = await rejection(f.fn(1))
  expect(first.message).to.equal('row 1: failure 1')
  expect(await rejection(f.fn(1)), 'the remembered error').to.equal(first)
  expect(f.runs(), 'runs while remembered').to.equal(1)
  return first
}

/** After the invalidation: the function runs again (and its new error is remembered in turn). */
async function expectRunAgain(f: ReturnType<typeof failing>): Promise<void> {
  const second = await rejection(f.fn(1))
  expect(second.message, 'the next call ran the function').to.equal('row 1: failure 2')
  expect(f.runs()).to.equal(2)
  expect(await rejection(f.fn(1)), 'the new error is remembered').to.equal(second)
  expect(f.runs()).to.equal(2)
}

/** Resolves with the id of the first stamp another process changes that `cache` hears of; rejects after 2 s. */
function hearsStamp(cache: Cache): Promise<string> {
  const tags = coreOf(cache).tags
  const heard = deferred<string>()
  const changed = tags.changed.bind(tags)
  tags.changed = (id: string): void => {
    changed(id)
    heard.resolve(id)
  }
  const timer = setTimeout(() => heard.reject(new Error('no stamp change heard within 2 s')), 2000)
  return heard.promise.finally(() => clearTimeout(timer))
}

/** One tag per master whose stamp key lives there (one tag on a single node). */
function tagPerMaster(t: TopologyHandle, prefix: string): string[] {
  if (t.name === 'single') return ['row:1']
  const slots = (t.client as Cluster).slots
  const byMaster = new Map<string, string>()
  for (let i = 0; byMaster.size < t.nodes.length; i++) {
    const tag = `row:${i}`
    const master = slots[slotOf(new KeyLayout(prefix).stampKey(`t:${tag}`))]?.[0]
    if (master !== undefined && !byMaster.has(master)) byMaster.set(master, tag)
  }
  return [...byMaster.values()]
}

describe('remembered errors are forgotten by any invalidation that covers their key', () => {
  let opened: Cache[] = []
  let n = 0
  const open = (options: CacheOptions): Cache => {
    const cache = createCache(options)
    opened.push(cache)
    return cache
  }
  afterEach(async () => {
    await Promise.all(opened.map((c) => c.close()))
    opened = []
  })

  describe('without Redis (L1 only)', () => {
    for (const f of forgets) {
      it(`${f.name} makes the next call run the function again`, async () => {
        const root = open({})
        const view = f.view(root)
        const failure = failing(view)
        await remember(failure)
        await f.run({ root, view, fn: failure.fn })
        await expectRunAgain(failure)
      })
    }

    it('cache.delete(key) makes the next getOrSet run the function again', async () => {
      const cache = open({})
      let runs = 0
      const load = (): Promise<never> => Promise.reject(new Error(`failure ${++runs}`))
      const first = await rejection(cache.getOrSet('row:1', load, { errorTtl: '1m' }))
      expect(await rejection(cache.getOrSet('row:1', load, { errorTtl: '1m' }))).to.equal(first)
      expect(runs).to.equal(1)
      await cache.delete('row:1')
      expect((await rejection(cache.getOrSet('row:1', load, { errorTtl: '1m' }))).message).to.equal('failure 2')
      expect(runs).to.equal(2)
    })
  })

  eachTopology((t) => {
    for (const f of forgets) {
      it(`${f.name} on the same cache makes the next call run the function again`, async () => {
        const root = open({ redis: t.redis(), prefix: `errors${++n}` })
        const view = f.view(root)
        const failure = failing(view)
        await remember(failure)
        await f.run({ root, view, fn: failure.fn })
        await expectRunAgain(failure)
      })
    }

    // Errors are remembered per process: a stamp reaches every process, a delete elsewhere
    // does not (there is no stored value to delete, so nobody is told).
    for (const f of forgets.filter((x) => x.name !== 'fn.invalidate(args)')) {
      it(`${f.name} from another cache on the same Redis makes the next call run the function again`, async () => {
        const prefix = `errors${++n}`
        const a = open({ redis: t.redis(), prefix })
        const b = open({ redis: t.redis(), prefix })
        const failure = failing(f.view(a))
        await remember(failure)
        const heard = hearsStamp(a)
        const other = f.view(b)
        await f.run({ root: b, view: other, fn: failing(other).fn })
        await heard
        await expectRunAgain(failure)
      })
    }

    // A Cluster connects to a node at its first command: a process must hear of stamps on
    // every master, also those it never sent a command to.
    it('invalidateTags from another cache reaches this one whichever master holds the stamp', async () => {
      const prefix = `errors${++n}`
      for (const tag of tagPerMaster(t, prefix)) {
        const a = open({ redis: t.redis(), prefix })
        const b = open({ redis: t.redis(), prefix })
        const failure = failing(a, [tag])
        await remember(failure)
        const heard = hearsStamp(a)
        await b.invalidateTags([tag])
        expect(await heard, `the stamp of ${tag}`).to.equal(`t:${tag}`)
        await expectRunAgain(failure)
      }
    })
  })
})
