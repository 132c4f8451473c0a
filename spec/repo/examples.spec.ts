import { expect } from 'chai'
import { availableParallelism } from 'node:os'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import pLimit from 'p-limit'
import { RedisServer } from '../support/redis-server.ts'
import { runNode, type NodeRun as Run } from '../support/run-node.ts'

/**
 * Every file in examples/ runs as a user would run it — `node --conditions=source
 * --import tsx examples/<file>` — once with no Redis (L1 only) and once with REDIS_URL
 * pointing at a redis-server of its own. Each run must exit 0 and print its expected
 * lines (the table below); an example not in the table must exit 0 and print something.
 * The runs go side by side, a few at a time, and each `it` checks its own.
 */

const root = fileURLToPath(new URL('../../', import.meta.url))
const files = readdirSync(`${root}examples`).filter((f) => /\.(?:ts|mts|js|mjs)$/.test(f)).sort()

type Mode = 'L1 only' | 'with Redis'
interface Expected {
  /** Lines both runs print, in this order. */
  both: RegExp[]
  /** Lines only the L1-only run, or only the Redis run, prints. */
  l1?: RegExp[]
  redis?: RegExp[]
}

const EXPECTED: Record<string, Expected> = {
  'quickstart.ts': {
    both: [
      /^first call: MISS \(computed\) square\(12\) = 144 in \d+ ms$/m,
      /^second call: HIT \(from the cache\) square\(12\) = 144 in [\d.]+ ms$/m,
      /^its key: quickstart:default!slowSquare:v1:d12;$/m,
      /^rich value: 2024-02-29T12:00:00\.000Z, Map\(2\), Set\(2\), 18446744073709551616n$/m,
      /^came back as the same types: yes$/m,
    ],
    l1: [/^cache: L1 only/m],
    redis: [/^cache: L1 \+ Redis at redis:\/\/127\.0\.0\.1:\d+$/m],
  },
  'person.ts': {
    both: [
      /^saved by the first cache: John is 20 years old \(computed: yes\)$/m,
      /^read instanceof Person: true, a copy: true$/m,
      /^nested: Mary is 31 years old \(instanceof Person: true\)$/m,
      /^address: Lisbon since 2019 \(instanceof Address: true\)$/m,
    ],
    l1: [/^read by the second cache: John is 20 years old \(computed again: without Redis nothing is shared\)$/m],
    redis: [/^read by the second cache: John is 20 years old \(rebuilt from the bytes in Redis, not computed\)$/m],
  },
  'slow-api.ts': {
    both: [
      /^first call +MISS Lisbon/m,
      /^again +HIT +Lisbon/m,
      /^another city +MISS Porto/m,
      /^another country +MISS Paris/m,
      /^100 concurrent calls, Madrid 1 API call$/m,
      /^after invalidate\(Lisbon\) +MISS Lisbon/m,
      /^Porto untouched +HIT +Porto/m,
      /^after tag country:PT +MISS Porto/m,
      /^Paris untouched +HIT +Paris/m,
      /^after the ttl \(2000 ms\) +MISS Paris/m,
      /^API calls in all: 7$/m,
    ],
  },
  'fastify.ts': {
    both: [
      /^GET \/slow -> 200 MISS in \d+ms \{"total":42,"price":10\}$/m,
      /^GET \/slow -> 200 HIT in \d+ms \{"total":42,"price":10\}$/m,
      /^ {2}content-type on the HIT: application\/json; charset=utf-8$/m,
      /^GET \/slow -> 304 HIT in \d+ms $/m,
      /^POST \/price -> 200 BYPASS in \d+ms \{"price":11\}$/m,
      /^ {2}1 MISS, 19 HIT; the route ran 2 times in all$/m,
      /^GET \/clock -> 200 BYPASS in \d+ms \{"now":\d+\}$/m,
      /^GET \/me -> 200 BYPASS in \d+ms hello session=alice$/m,
    ],
  },
  'healthz.ts': {
    both: [
      /^GET \/healthz -> 200 (ok|degraded) \(l2: \S+, coherence: \S+, L1 entries: \d+\)$/m,
      /^after close\(\): GET \/healthz -> 503 closed \(l2: none, coherence: none, L1 entries: 0\)$/m,
    ],
    l1: [/^cache: L1 only$/m, /^GET \/healthz -> 200 ok \(l2: none, coherence: none, L1 entries: 1\)$/m],
    redis: [/^GET \/healthz -> 200 (ok|degraded) \(l2: up, coherence: (tracking|degraded)/m],
  },
  'nestjs.ts': {
    both: [
      /^GET \/products\/1 -> 200 MISS \{"id":"1","name":"Tea","price":3\} \(queries: 1, \d+ ms\)$/m,
      /^GET \/products\/1 -> 200 HIT \{"id":"1","name":"Tea","price":3\} \(queries: 1, \d+ ms\)$/m,
      /^service\.find\("1"\) from elsewhere in the app: \{"id":"1","name":"Tea","price":3\} \(queries: 1\)$/m,
      /^PUT \/products\/1\/price\?price=4 -> 200 BYPASS \{"ok":true\}/m,
      /^GET \/products\/1 -> 200 MISS \{"id":"1","name":"Tea","price":4\} \(queries: 2, \d+ ms\)$/m,
      /^PUT \/products\/1\/name\?name=Green%20tea -> 200 BYPASS \{"ok":true\}/m,
      /^GET \/products\/1 -> 200 MISS \{"id":"1","name":"Green tea","price":4\} \(queries: 3, \d+ ms\)$/m,
      /^GET \/products\/1 -> 200 HIT \{"id":"1","name":"Green tea","price":4\} \(queries: 3, \d+ ms\)$/m,
      /^app closed; the module closed the cache: yes$/m,
    ],
    l1: [/^cache: L1 only/m],
    redis: [/^cache: L1 \+ Redis at redis:\/\/127\.0\.0\.1:\d+$/m],
  },
  'prometheus.ts': {
    both: [
      /^GET \/products\/1 -> 200 MISS$/m,
      /^GET \/products\/1 -> 200 HIT$/m,
      /^GET \/products\/2 -> 200 MISS$/m,
      /^scraped \/metrics:$/m,
      /^ {2}memoredis_cache_reads_total\{.*memoredis_tier="l1",memoredis_read_result="miss".*\} [234]$/m,
      /^ {2}memoredis_computations_total\{memoredis_cache_prefix="example-prometheus".*\} 2$/m,
    ],
    l1: [/^cache: L1 only$/m, /^ {2}memoredis_cache_reads_total\{.*memoredis_tier="l1",memoredis_read_result="hit".*\} 2$/m],
    redis: [/^cache: L1 \+ Redis at redis:\/\/127\.0\.0\.1:\d+$/m],
  },
  'reverse-proxy.ts': {
    both: [
      /^GET \/prices -> 200 MISS in \d+ms \{"price":10\}$/m,
      /^GET \/prices -> 200 HIT in \d+ms \{"price":10\}$/m,
      /^GET \/terms -> 200 MISS in \d+ms the terms$/m,
      /^GET \/terms -> 200 REVALIDATED in \d+ms the terms$/m,
      /^POST \/prices -> 204 BYPASS in \d+ms$/m,
      /^GET \/prices -> 200 MISS in \d+ms \{"price":11\}$/m,
      /^upstream calls in all: 5$/m,
    ],
  },
  'decorator.ts': {
    both: [
      /^eur\.product\("a"\) +\{"id":"a","name":"Product A"\} +MISS \(ran product\(a\)\)$/m,
      /^usd\.product\("a"\) +\{"id":"a","name":"Product A"\} +HIT$/m,
      /^eur\.price\("a"\) +"9\.99 EUR" +MISS \(ran price\(a\) in EUR\)$/m,
      /^usd\.price\("a"\) +"10\.99 USD" +MISS \(ran price\(a\) in USD\)$/m,
      /^usd\.price\("a"\) again +"10\.99 USD" +HIT$/m,
      /^key of product\("a"\): decorator-example:default!Catalog\.product:v1:s1:a$/m,
      /^key of usd's price\("a"\): decorator-example:default!Catalog\.price:v1:\(s3:USDs1:a\)$/m,
      /^after invalidate +\{"id":"a","name":"Product A"\} +MISS \(ran product\(a\)\)$/m,
      /^peek eur price\("a"\): "9\.99 EUR"$/m,
    ],
  },
}

/** Runs an example to its end (killed after 60 s) with REDIS_URL set to `redisUrl`, or unset. */
function runExample(file: string, redisUrl: string | undefined): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env }
  // An empty REDIS_URL says "no Redis": the quickstart would otherwise try 127.0.0.1:6379.
  env.REDIS_URL = redisUrl ?? ''
  // Servers among the examples (reverse-proxy.ts) show themselves and exit without these.
  delete env.ORIGIN
  delete env.PORT
  return runNode(['--conditions=source', '--import', 'tsx', `examples/${file}`], { cwd: root, env, timeoutMs: 60_000 })
}

describe('examples', () => {
  // Examples mostly wait (timers, I/O): more runs than cores at a time is fine.
  const limit = pLimit(Math.min(6, 2 * availableParallelism()))
  const runs = new Map<string, Promise<Run>>()
  const servers: RedisServer[] = []

  before(async function () {
    this.timeout(30_000)
    // Every run with Redis gets a server of its own: examples may use the same keys.
    for (const file of files) {
      runs.set(`${file} L1 only`, limit(() => runExample(file, undefined)))
      runs.set(
        `${file} with Redis`,
        limit(async () => {
          const server = await RedisServer.start()
          servers.push(server)
          try {
            return await runExample(file, server.url)
          } finally {
            await server.stop()
          }
        }),
      )
    }
    // Swallowed here, seen by the test that awaits it.
    for (const run of runs.values()) run.catch(() => undefined)
  })

  after(async () => {
    await Promise.all([...runs.values()].map((run) => run.catch(() => undefined)))
    await Promise.all(servers.map((server) => server.stop()))
  })

  it('finds the examples the README relies on', () => {
    expect(files).to.include.members(['quickstart.ts', 'person.ts', 'slow-api.ts', 'decorator.ts', 'fastify.ts'])
  })

  for (const file of files) {
    describe(file, () => {
      for (const mode of ['L1 only', 'with Redis'] as Mode[]) {
        const expected = EXPECTED[file]
        const what = expected === undefined ? 'prints something' : 'prints its expected lines, in order'
        it(`exits 0 and ${what}, ${mode}`, async function () {
          this.timeout(180_000)
          const run = await (runs.get(`${file} ${mode}`) as Promise<Run>)
          const output = `--- stdout\n${run.stdout}--- stderr\n${run.stderr}`
          expect(run.code, `${file} ${mode} exited ${run.code ?? run.signal}\n${output}`).to.equal(0)
          expect(run.stdout.trim(), `${file} printed nothing`).to.not.equal('')
          if (expected === undefined) return
          const patterns = [...expected.both, ...((mode === 'L1 only' ? expected.l1 : expected.redis) ?? [])]
          let from = 0
          for (const pattern of expected.both) {
            const found = pattern.exec(run.stdout.slice(from))
            expect(found, `${file} ${mode}: no line matching ${pattern} (in order)\n${output}`).to.not.equal(null)
            from += (found?.index ?? 0) + (found?.[0].length ?? 0)
          }
          for (const pattern of patterns) expect(run.stdout, `${file} ${mode}\n${output}`).to.match(pattern)
        })
      }
    })
  }
})
