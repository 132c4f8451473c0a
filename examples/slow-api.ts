/**
 * A slow API call, memoized: time-to-live, tags and invalidation.
 *
 * Shows: `fetchForecast(city)` (a pretend HTTP call of 100 ms) memoized with a short
 * `ttl` and a tag per city and per country. A repeat call is a HIT; `invalidate(city)`
 * drops one entry; `cache.invalidateTags(['country:PT'])` drops every Portuguese city at
 * once; and after the ttl the next call goes to the API again. Concurrent callers of a
 * cold city share one API call.
 *
 * Run:        node --conditions=source --import tsx examples/slow-api.ts
 * With Redis: REDIS_URL=redis://127.0.0.1:6379 node --conditions=source --import tsx examples/slow-api.ts
 * (with Redis, every process of the service shares the forecasts and the invalidations).
 */
import { createCache, memoize } from 'memoredis'

interface Forecast {
  city: string
  country: string
  celsius: number
  fetchedAt: Date
}

const redis = process.env.REDIS_URL || undefined
const cache = createCache({ redis, prefix: 'slow-api' })
console.log(redis === undefined ? 'cache: L1 only (set REDIS_URL to add Redis)' : 'cache: L1 + Redis')

const COUNTRY: Record<string, string> = { Lisbon: 'PT', Porto: 'PT', Paris: 'FR' }
let apiCalls = 0

/** The pretend API: slow, and counted. */
async function fetchForecast(city: string): Promise<Forecast> {
  apiCalls++
  await new Promise((resolve) => setTimeout(resolve, 100))
  return { city, country: COUNTRY[city] ?? '??', celsius: 15 + city.length, fetchedAt: new Date() }
}

const TTL_MS = 2000
const forecast = memoize(fetchForecast, {
  cache,
  ttl: TTL_MS,
  tags: ([city], result) => [`city:${city}`, `country:${result.country}`],
})

/** Calls the memoized API and prints whether it was a HIT or a MISS, and how long it took. */
async function show(what: string, city: string): Promise<void> {
  const before = apiCalls
  const started = performance.now()
  const f = await forecast(city)
  const ms = performance.now() - started
  const status = apiCalls > before ? 'MISS' : 'HIT '
  console.log(`${what.padEnd(28)} ${status} ${f.city} ${f.celsius}°C in ${ms < 1 ? ms.toFixed(2) : ms.toFixed(0)} ms`)
}

// Start clean, also when Redis still holds forecasts from an earlier run.
await Promise.all(['Lisbon', 'Porto', 'Paris', 'Madrid'].map((city) => forecast.invalidate(city)))

await show('first call', 'Lisbon')
await show('again', 'Lisbon')
await show('another city', 'Porto')
await show('another country', 'Paris')

const before = apiCalls
await Promise.all(Array.from({ length: 100 }, () => forecast('Madrid')))
console.log(`${'100 concurrent calls, Madrid'.padEnd(28)} ${apiCalls - before} API call`)

await forecast.invalidate('Lisbon')
await show('after invalidate(Lisbon)', 'Lisbon')
await show('Porto untouched', 'Porto')

await cache.invalidateTags(['country:PT'])
await show('after tag country:PT', 'Porto')
await show('Paris untouched', 'Paris')

await new Promise((resolve) => setTimeout(resolve, TTL_MS + 50))
await show(`after the ttl (${TTL_MS} ms)`, 'Paris')

console.log(`API calls in all: ${apiCalls}`)
await cache.close()
