/**
 * Tags, clear, and coherent L1 — on one Redis or a Redis Cluster, with the same code.
 *
 * Shows: entries tagged by a function of the arguments and the result; one
 * `invalidateTags` call dropping every entry of a tag (and no other) in O(1); `clear()`
 * of a memoized function and of a namespace; and, with Redis, a second cache (as another
 * process would have) that stops serving a value from its own L1 a moment after the
 * first cache invalidates it.
 *
 * Run:          node --conditions=source --import tsx examples/tags-and-cluster.ts
 * With Redis:   REDIS_URL=redis://127.0.0.1:6379 node --conditions=source --import tsx examples/tags-and-cluster.ts
 * On a Cluster: REDIS_CLUSTER=127.0.0.1:7000,127.0.0.1:7001 node --conditions=source --import tsx examples/tags-and-cluster.ts
 * With neither, the cache lives in this process only (L1) and the cross-process part is skipped.
 */
import { Cluster } from 'ioredis'
import { createCache, memoize, type Cache } from 'memoredis'

/** The `redis` option: a Cluster (used as a template; memoredis opens its own connections), a URL, or none. */
function redisOption(): string | Cluster | undefined {
  const nodes = process.env.REDIS_CLUSTER
  if (nodes !== undefined && nodes !== '') {
    return new Cluster(
      nodes.split(',').map((node) => ({ host: node.split(':')[0] ?? '127.0.0.1', port: Number(node.split(':')[1] ?? 6379) })),
      { lazyConnect: true },
    )
  }
  const url = process.env.REDIS_URL
  return url === undefined || url === '' ? undefined : url
}

const where = process.env.REDIS_CLUSTER ? 'a Redis Cluster' : process.env.REDIS_URL ? `Redis at ${process.env.REDIS_URL}` : undefined
const cache = createCache({ redis: redisOption(), prefix: 'tags-example', ttl: '5m' })
console.log(where === undefined ? 'cache: L1 only (set REDIS_URL or REDIS_CLUSTER to share across processes)' : `cache: L1 + ${where}`)
await cache.clear() // start clean, even if Redis still holds entries of an earlier run

// ── Tags from the arguments and the result ──
interface Order { id: number; customer: string; total: number }
let queries = 0
async function loadOrder(id: number): Promise<Order> {
  queries++
  return { id, customer: id % 2 === 0 ? 'ann' : 'bob', total: id * 10 }
}
const getOrder = memoize(loadOrder, { cache, tags: ([id], order) => [`order:${id}`, `customer:${order.customer}`] })

for (let id = 1; id <= 4; id++) await getOrder(id)
console.log(`4 orders loaded: ${queries} queries`)
for (let id = 1; id <= 4; id++) await getOrder(id)
console.log(`4 orders again: ${queries} queries (all hits)`)

await cache.invalidateTags(['customer:ann']) // one command, however many of ann's orders are cached
for (let id = 1; id <= 4; id++) await getOrder(id)
console.log(`after invalidateTags(['customer:ann']): ${queries} queries (orders 2 and 4 reloaded, bob's kept)`)

// ── clear(): a function's entries, a namespace's entries ──
await getOrder.clear()
await getOrder(1)
console.log(`after getOrder.clear(): ${queries} queries (order 1 reloaded)`)
const reports = cache.namespace('reports')
await reports.set('daily', 'sales: 42')
await cache.set('kept', 'outside the namespace')
await reports.clear()
console.log(`after reports.clear(): daily = ${String(await reports.get('daily'))}, kept = ${String(await cache.get('kept'))}`)

// ── Coherent L1: another cache (another process) drops its copy when this one invalidates ──
if (where !== undefined) {
  const other: Cache = createCache({ redis: redisOption(), prefix: 'tags-example', ttl: '5m' })
  let version = 0
  const read = (c: Cache) => c.getOrSetEntry('price:sku-1', async () => ({ amount: 10 + version++ }), { tags: ['prices'] })
  await read(cache)
  // The other cache reads it into its own L1 (once its invalidation channel is in place).
  const hitsOf = (c: Cache) => c.stats().l1.hits
  for (let before = hitsOf(other); hitsOf(other) === before; ) {
    await read(other)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  const old = (await read(other)).value
  console.log(`other cache: price ${old.amount} from its own L1`)
  const started = performance.now()
  await cache.invalidateTags(['prices'])
  let now = old
  while (now === old) {
    now = (await read(other)).value
    if (now === old) await new Promise((resolve) => setImmediate(resolve))
  }
  console.log(`other cache: new price ${now.amount} ${(performance.now() - started).toFixed(1)} ms after the invalidation`)
  await other.close()
}

await cache.close()
console.log('done')
