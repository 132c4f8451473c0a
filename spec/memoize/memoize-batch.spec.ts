import { expect } from 'chai'
import { createCache, DuplicateNameError, InvalidOptionError, memoizeBatch, MissingBatchValueError, type Cache, type CacheOptions } from 'memoredis'
import { openedCaches } from '../fixtures/stampede-helpers.ts'
import { eachTopology } from '../support/topology.ts'

/**
 * `memoizeBatch`: calls of one id in the same tick answered by one call of the batch
 * function (DataLoader's shape), each id cached on its own, on a single node and on the
 * cluster. Across processes: spec/engine/batch-fleet.spec.ts.
 */

const failure = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => {
      throw new Error('expected a rejection')
    },
    (error: unknown) => error,
  )

/** A batch function that records each call's ids. */
function recording<I, V>(body: (ids: I[]) => V[] | Map<unknown, V>): ((ids: I[]) => Promise<V[] | Map<unknown, V>>) & { calls: I[][] } {
  const calls: I[][] = []
  return Object.assign(
    async function products(ids: I[]) {
      calls.push(ids)
      return body(ids)
    },
    { calls },
  )
}

eachTopology((t) => {
  describe('memoizeBatch', () => {
    const opened = openedCaches()
    const open = (options: CacheOptions = {}): Cache => opened({ redis: t.redis(), prefix: 'mb', ...options })

    it('answers the calls of one tick with one call of the function, each id once, and later calls from the cache', async () => {
      const cache = open()
      const fn = recording((ids: number[]) => ids.map((id) => `product ${id}`))
      const product = memoizeBatch(fn, { cache })
      expect(await Promise.all([product(1), product(2), product(1), product(3)])).to.deep.equal(['product 1', 'product 2', 'product 1', 'product 3'])
      expect(fn.calls).to.deep.equal([[1, 2, 3]])
      expect(await product.many([3, 4, 1])).to.deep.equal(['product 3', 'product 4', 'product 1'])
      expect(fn.calls).to.deep.equal([[1, 2, 3], [4]])
      // Another cache (another process) reads them from Redis, and computes nothing.
      const other = memoizeBatch(recording((ids: number[]) => ids.map(() => 'never')), { cache: open(), name: 'products' })
      expect(await other.many([1, 2, 3, 4])).to.deep.equal(['product 1', 'product 2', 'product 3', 'product 4'])
    })

    it('splits a tick into calls of at most maxBatchSize ids', async () => {
      const fn = recording((ids: number[]) => ids.map((id) => id * 10))
      const times10 = memoizeBatch(fn, { cache: open(), maxBatchSize: 2 })
      expect(await times10.many([1, 2, 3, 4, 5])).to.deep.equal([10, 20, 30, 40, 50])
      expect(fn.calls).to.deep.equal([[1, 2], [3, 4], [5]])
    })

    it('keys ids by key(id), and takes a Map keyed by the id or by key(id)', async () => {
      const cache = open()
      const fn = recording((ids: { sku: string }[]) => new Map(ids.map((id) => [id.sku, `item ${id.sku}`])))
      const item = memoizeBatch(fn, { cache, key: (id) => id.sku })
      expect(await item.many([{ sku: 'a' }, { sku: 'b' }])).to.deep.equal(['item a', 'item b'])
      expect(await item({ sku: 'a' })).to.equal('item a')
      expect(fn.calls).to.have.length(1)
      expect(item.keyFor({ sku: 'a' })).to.match(/^mb:default!products:v1:/)
    })

    it('drops one id with invalidate(id) and every id with clear(), in every process', async () => {
      let version = 1
      const fn = recording((ids: string[]) => ids.map((id) => `${id} v${version}`))
      const item = memoizeBatch(fn, { cache: open() })
      await item.many(['a', 'b'])
      version = 2
      await item.invalidate('a')
      expect(await item.many(['a', 'b'])).to.deep.equal(['a v2', 'b v1'])
      await item.clear()
      version = 3
      expect(await item.many(['a', 'b'])).to.deep.equal(['a v3', 'b v3'])
    })

    it('settles each id on its own: an id left out is undefined (or rejects with missing: error), another is a value', async () => {
      const cache = open()
      const fn = recording((ids: string[]) => ids.map((id) => (id === 'gone' ? undefined : `item ${id}`)))
      const item = memoizeBatch(fn, { cache })
      expect(await Promise.all([item('a'), item('gone')])).to.deep.equal(['item a', undefined])
      const strict = memoizeBatch(fn, { cache, name: 'strict', missing: 'error' })
      const [found, gone] = await Promise.allSettled([strict('b'), strict('gone')])
      expect(found).to.deep.equal({ status: 'fulfilled', value: 'item b' })
      expect((gone as PromiseRejectedResult).reason).to.be.instanceOf(MissingBatchValueError)
    })

    it('tags each value by its id and value', async () => {
      const cache = open()
      let version = 1
      const item = memoizeBatch(
        recording((ids: string[]) => ids.map((id) => ({ id, version }))),
        { cache, tags: (id, value) => [`item:${id}`, `v:${value.version}`] },
      )
      await item.many(['a', 'b'])
      version = 2
      await cache.invalidateTags(['item:b'])
      expect(await item.many(['a', 'b'])).to.deep.equal([{ id: 'a', version: 1 }, { id: 'b', version: 2 }])
    })

    it('refuses bad options, a function without a name, and a name already taken', () => {
      const cache = open()
      expect(() => memoizeBatch((ids: string[]) => ids, { cache, name: 'z', maxBatchSize: 0 })).to.throw(InvalidOptionError, 'maxBatchSize')
      expect(() => memoizeBatch((ids: string[]) => ids, { cache, name: 'x', batch: 2 } as never)).to.throw(InvalidOptionError, 'no option "batch"')
      expect(() => memoizeBatch((ids: string[]) => ids, { cache, name: 'y', missing: 'no' as never })).to.throw(InvalidOptionError, 'missing')
      expect(() => memoizeBatch((ids: string[]) => ids, { cache })).to.throw(InvalidOptionError, 'name is required')
      expect(() => memoizeBatch('f' as never)).to.throw(InvalidOptionError, 'function')
      const taken = memoizeBatch(async function taken(ids: string[]) {
        return ids
      }, { cache })
      expect(taken.name).to.equal('taken')
      expect(() => memoizeBatch(async function taken(ids: string[]) {
        return ids
      }, { cache })).to.throw(DuplicateNameError)
    })

    it('rejects an unkeyable id without calling the function', async () => {
      const fn = recording((ids: unknown[]) => ids)
      const item = memoizeBatch(fn, { cache: open() })
      expect(await failure(item(Symbol('s')))).to.have.property('code', 'ERR_UNKEYABLE_ARGUMENT')
      expect(fn.calls).to.deep.equal([])
    })
  })
})

describe('batches on L1 alone (no Redis)', () => {
  it('batches the calls of a tick and caches each id in the process', async () => {
    const cache = createCache()
    try {
      const fn = recording((ids: number[]) => ids.map((id) => id + 1))
      const next = memoizeBatch(fn, { cache })
      expect(await Promise.all([next(1), next(2)])).to.deep.equal([2, 3])
      expect(await next.many([1, 2, 3])).to.deep.equal([2, 3, 4])
      expect(fn.calls).to.deep.equal([[1, 2], [3]])
      expect(await cache.getOrSetMany(['a', 'b'], (keys) => keys.map((key) => key.toUpperCase()))).to.deep.equal(['A', 'B'])
      expect(await cache.getMany(['a', 'x', 'b'])).to.deep.equal(['A', undefined, 'B'])
      await cache.deleteMany(['a'])
      expect(await cache.getMany(['a', 'b'])).to.deep.equal([undefined, 'B'])
    } finally {
      await cache.close()
    }
  })
})
