/**
 * `l1.freeze` and the hit path, measured against the floor in the same run:
 *
 *   floor        `await lru.get(JSON.stringify(args))`: a plain lru-cache get under a key
 *                made from the arguments, awaited, as every memoized call is
 *   freeze off   a memoize() L1 hit with an object argument (the default cache)
 *   freeze on    the same hit on a cache with `l1: { freeze: true }`
 *
 * Freezing happens when a value enters L1, never on a hit, so both hits should cost the
 * same; the ratio to the floor is the one bench/engine.ts reports for the L1 hit. Also printed: what
 * freezing costs once, when the sample value enters L1 (a miss).
 *
 * Each case is warmed up, then measured in rounds that alternate between the cases (the
 * median round counts). No Redis: L1 only.
 *
 * Run: node --conditions=source --import tsx bench/freeze.ts
 * BENCH_MS sets the length of a round (default 300), BENCH_ROUNDS their number (default 7).
 */
import { LRUCache } from 'lru-cache'
import { deepFreeze } from '../lib/memory/freeze.ts'
import { createCache, memoize } from '../lib/index.ts'
import { user as supportUser } from './support.ts'

const ROUND_MS = Number(process.env.BENCH_MS ?? 300)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)

/** The argument: a small query object, as a memoized data-access function gets. */
const query = (id: number): { userId: number; include: string[]; locale: string } => ({ userId: id, include: ['profile', 'teams'], locale: 'en' })
/** The value: a user record with nested objects, an array, a Map and a Set. */
const user = (id: number): Record<string, unknown> => ({
  ...supportUser(id),
  teams: new Map([['core', { role: 'lead' }], ['docs', { role: 'member' }]]),
  flags: new Set(['beta', 'staff']),
})
const fetchUser = async (q: { userId: number }): Promise<Record<string, unknown>> => user(q.userId)

interface Case {
  name: string
  op: () => unknown
}

/** Runs `op` for about `ms`, awaiting each call; returns nanoseconds per call. */
async function round(c: Case, ms: number): Promise<number> {
  const deadline = process.hrtime.bigint() + BigInt(ms * 1e6)
  const started = process.hrtime.bigint()
  let calls = 0
  do {
    for (let i = 0; i < 100; i++) await c.op()
    calls += 100
  } while (process.hrtime.bigint() < deadline)
  return Number(process.hrtime.bigint() - started) / calls
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN

async function measure(cases: Case[]): Promise<Map<string, number>> {
  for (const c of cases) await round(c, Math.max(200, ROUND_MS)) // warm-up: let the JIT settle
  const samples = new Map<string, number[]>(cases.map((c) => [c.name, []]))
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of cases) samples.get(c.name)?.push(await round(c, ROUND_MS))
  }
  return new Map([...samples].map(([name, xs]) => [name, median(xs)]))
}

/** Microseconds to deep-freeze one fresh sample value (what a miss pays with freeze on). */
function freezeCost(): number {
  const values = Array.from({ length: 20_000 }, (_, i) => user(i))
  const started = process.hrtime.bigint()
  for (const value of values) deepFreeze(value)
  return Number(process.hrtime.bigint() - started) / values.length / 1000
}

const arg = query(42)
const lru = new LRUCache<string, object>({ max: 10_000 })
lru.set(JSON.stringify([arg]), user(42))
const plain = createCache({ l1: { max: 10_000 } })
const frozen = createCache({ l1: { max: 10_000, freeze: true } })
const off = memoize(fetchUser, { cache: plain, name: 'fetchUser', ttl: '1h' })
const on = memoize(fetchUser, { cache: frozen, name: 'fetchUser', ttl: '1h' })
const hit = await on(arg)
if (!Object.isFrozen(hit) || Object.isFrozen(await off(arg))) throw new Error('the caches do not freeze as configured')

const cases: Case[] = [
  { name: 'floor: await lru.get(JSON.stringify(args))', op: () => Promise.resolve(lru.get(JSON.stringify([arg]))) },
  { name: 'memoize, L1 hit, freeze off (default)', op: () => off(arg) },
  { name: 'memoize, L1 hit, l1: { freeze: true }', op: () => on(arg) },
]
console.log(`node ${process.version}, ${ROUNDS} rounds of ${ROUND_MS} ms per case, median round shown`)
const results = await measure(cases)
const floor = results.get(cases[0]?.name ?? '') ?? NaN
console.log('\nL1 hit: memoized call with an object argument (ns per call)')
for (const [name, ns] of results) {
  console.log(`  ${name.padEnd(44)} ${ns.toFixed(0).padStart(8)} ns/op  ${(ns / floor).toFixed(2).padStart(6)}x the floor`)
}
const [offNs, onNs] = [results.get(cases[1]?.name ?? '') ?? NaN, results.get(cases[2]?.name ?? '') ?? NaN]
console.log(`  freeze on vs freeze off: ${(onNs / offNs).toFixed(2)}x`)
console.log(`\nfreezing the sample value once, as it enters L1 (a miss): ${freezeCost().toFixed(2)} µs`)
await Promise.all([plain.close(), frozen.close()])
