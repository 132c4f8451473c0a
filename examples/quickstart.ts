/**
 * Quickstart: memoize a slow function, and keep a rich value.
 *
 * Shows: a slow function memoized with `memoize`, called twice — the first call runs it
 * (MISS), the second is answered from the cache (HIT) in a fraction of a millisecond —
 * and a value made of a Date, a Map, a Set and a BigInt that comes back as those types.
 *
 * Run:        npm run example
 *   (that is: node --conditions=source --import tsx examples/quickstart.ts)
 * With Redis: REDIS_URL=redis://host:6379 npm run example   (REDIS_URL= forces L1 only)
 *
 * It uses the Redis at REDIS_URL, or at 127.0.0.1:6379 when one answers there; with no
 * Redis the cache lives in this process only (L1). With Redis, values also go to L2,
 * where every process of a service shares them, and the rich value is read back through
 * a second cache that has no L1, so it really makes the trip through Redis.
 */
import { connect } from 'node:net'
import { createCache, memoize } from 'memoredis'

/** The Redis to use: REDIS_URL if set (empty = none), else a local one if it answers within 300 ms. */
async function findRedis(): Promise<string | undefined> {
  const configured = process.env.REDIS_URL
  if (configured !== undefined) return configured === '' ? undefined : configured
  const reachable = await new Promise<boolean>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: 6379, timeout: 300 })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.once('connect', () => done(true))
    socket.once('timeout', () => done(false))
    socket.once('error', () => done(false))
  })
  return reachable ? 'redis://127.0.0.1:6379' : undefined
}

const redis = await findRedis()
const cache = createCache({ redis, prefix: 'quickstart', ttl: '1m' })
console.log(redis === undefined ? 'cache: L1 only (no Redis found; set REDIS_URL to add one)' : `cache: L1 + Redis at ${redis}`)

// The slow function: 300 ms of "work".
let runs = 0
async function slowSquare(n: number): Promise<number> {
  runs++
  await new Promise((resolve) => setTimeout(resolve, 300))
  return n * n
}

const square = memoize(slowSquare, { cache })
await square.invalidate(12) // Start clean, even if Redis still holds the value from an earlier run.

for (const call of ['first', 'second']) {
  const before = runs
  const started = performance.now()
  const value = await square(12)
  const ms = performance.now() - started
  const status = runs > before ? 'MISS (computed)' : 'HIT (from the cache)'
  console.log(`${call} call: ${status} square(12) = ${value} in ${ms.toFixed(ms < 1 ? 3 : 0)} ms`)
}
console.log(`its key: ${square.keyFor(12)}`)

// A rich value: stored, then read back (through Redis alone when there is Redis).
const rich = {
  when: new Date('2024-02-29T12:00:00Z'),
  scores: new Map([['ann', 3], ['bob', 5]]),
  tags: new Set(['new', 'vip']),
  big: 2n ** 64n,
}
await cache.set('rich', rich)
const reader = redis === undefined ? cache : createCache({ redis, prefix: 'quickstart', l1: false })
const back = await reader.get<typeof rich>('rich')
if (back === undefined) throw new Error('the rich value was not found')
console.log(`rich value: ${back.when.toISOString()}, Map(${back.scores.size}), Set(${back.tags.size}), ${back.big}n`)
const same = back.when instanceof Date && back.scores instanceof Map && back.tags instanceof Set && typeof back.big === 'bigint'
console.log(`came back as the same types: ${same ? 'yes' : 'no'}`)

if (reader !== cache) await reader.close()
await cache.close()
