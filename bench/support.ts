/**
 * What the benchmarks share: the value every library caches, the timing loop (cases
 * measured in interleaved rounds, the median round counts), Redis command counts, and a
 * client of the ioredis that memoredis itself uses.
 */
import { createRequire } from 'node:module'
import type { Redis } from 'ioredis'

/** Length of one measured round of one case, ms (`BENCH_MS`, default 150). */
export const ROUND_MS = Number(process.env.BENCH_MS ?? 150)
/** Measured rounds per case (`BENCH_ROUNDS`, default 7); medians are reported. */
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)

/**
 * The value every library and every floor caches: a user record as a database would
 * return it, with a Date, nested objects and a nested array (about 450 bytes as superjson).
 */
export const user = (id: number): Record<string, unknown> => ({
  id,
  name: 'Ada Lovelace',
  email: 'ada@example.com',
  createdAt: new Date('2020-01-02T03:04:05Z'),
  roles: ['admin', 'editor'],
  prefs: { theme: 'dark', languages: ['en', 'fr'], digest: true },
  score: 1234.5,
  address: { street: '12 St James Square', city: 'London', postcode: 'SW1Y 4JH', country: 'GB' },
  teams: [
    { id: 7, name: 'Analytical Engines', role: 'owner' },
    { id: 9, name: 'Notes on the Sketch', role: 'member' },
  ],
})

/** Epoch ms with sub-ms precision, comparable across the processes of this machine. */
export const now = (): number => performance.timeOrigin + performance.now()

export const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN

/** One thing to time. */
export interface Case {
  name: string
  /** One operation; `worker` (0 to workers - 1) lets concurrent workers pick keys of their own. */
  op: (worker: number) => unknown
  /** Workers running `op` concurrently, each one operation at a time. Default 1. */
  workers?: number
  /** Calls one operation stands for (an op that runs 50 calls at once says 50). Default 1. */
  calls?: number
  /** `op` is synchronous: called in a plain loop, never awaited. Default false. */
  sync?: boolean
}

/** Runs `c` for about `ms`; returns nanoseconds per call (wall time / calls, all workers together). */
export async function round(c: Case, ms: number): Promise<number> {
  const started = process.hrtime.bigint()
  const deadline = started + BigInt(Math.round(ms * 1e6))
  const per = c.calls ?? 1
  const chunk = Math.max(1, Math.round(100 / per))
  let calls = 0
  if (c.sync === true) {
    do {
      for (let i = 0; i < 1000; i++) c.op(0)
      calls += 1000
    } while (process.hrtime.bigint() < deadline)
  } else {
    const worker = async (w: number): Promise<void> => {
      do {
        for (let i = 0; i < chunk; i++) await c.op(w)
        calls += chunk * per
      } while (process.hrtime.bigint() < deadline)
    }
    await Promise.all(Array.from({ length: c.workers ?? 1 }, (_, w) => worker(w)))
  }
  return Number(process.hrtime.bigint() - started) / calls
}

/** Per-round samples of measured cases: nanoseconds per call of each case, by name, one per round. */
export class Results {
  constructor(readonly samples: ReadonlyMap<string, readonly number[]>) {}

  /** The cases' names, in the order they were given. */
  get names(): string[] {
    return [...this.samples.keys()]
  }

  /** The median round's nanoseconds per call. */
  ns(name: string): number {
    return median(this.samples.get(name) ?? [])
  }

  /**
   * `name` against `base`: the median over rounds of the ratio within each round, where
   * both ran back to back, so that load from other work on the machine, which comes and
   * goes, skews the ratio less than it skews either time.
   */
  ratio(name: string, base: string): number {
    const xs = this.samples.get(name) ?? []
    const ys = this.samples.get(base) ?? []
    return median(xs.map((x, r) => x / (ys[r] ?? Number.NaN)))
  }
}

/**
 * Warms every case up (one round, at least 200 ms: JIT, connections), then runs `rounds`
 * rounds in which the cases take turns (in reverse order every other round), so that
 * drift and GC hit them alike.
 */
export async function measure(cases: readonly Case[], options: { ms?: number; rounds?: number } = {}): Promise<Results> {
  const ms = options.ms ?? ROUND_MS
  const rounds = options.rounds ?? ROUNDS
  for (const c of cases) await round(c, Math.max(200, ms))
  const samples = new Map<string, number[]>(cases.map((c) => [c.name, []]))
  for (let r = 0; r < rounds; r++) {
    for (const c of r % 2 === 0 ? cases : [...cases].reverse()) samples.get(c.name)?.push(await round(c, ms))
  }
  return new Results(samples)
}

/** Calls of each command the server has run so far, by name (INFO commandstats; commands run inside scripts count too; INFO itself does not). */
export async function commandCounts(client: Redis): Promise<Map<string, number>> {
  const info = await client.info('commandstats')
  const counts = new Map<string, number>()
  for (const [, name, calls] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (name !== undefined && name !== 'info') counts.set(name, Number(calls))
  return counts
}

/** Commands the server has run so far, all together (see {@link commandCounts}). */
export async function commandCalls(client: Redis): Promise<number> {
  let total = 0
  for (const calls of (await commandCounts(client)).values()) total += calls
  return total
}

/**
 * The ioredis that memoredis depends on (the repository root's), not the one in
 * bench/node_modules that bentocache needs: floors are measured with memoredis's own
 * client and protocol. Both majors have the same API, so one type serves.
 */
const rootRequire = createRequire(new URL('../package.json', import.meta.url))
export const RootRedis = (rootRequire('ioredis') as { Redis: typeof Redis }).Redis
/** The version of {@link RootRedis}. */
export const rootRedisVersion = (rootRequire('ioredis/package.json') as { version: string }).version

/** A module by name from bench/node_modules (a peer library), or undefined with a note when it is not installed. */
export async function peer<T>(name: string): Promise<T | undefined> {
  // Loaded by name at run time, so that the project's own install and typecheck need none of them.
  const load = (specifier: string): Promise<unknown> => import(specifier)
  try {
    return (await load(name)) as T
  } catch {
    console.log(`  (${name} is not installed: cd bench && npm ci)`)
    return undefined
  }
}
