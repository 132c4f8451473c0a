import { expect } from 'chai'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createCache, DuplicateNameError, memoize, type Cache } from 'memoredis'
import { NameRegistry } from '../../lib/memoize/names.ts'
import type { HeapReport } from '../fixtures/names-heap.ts'

const run = promisify(execFile)
const root = fileURLToPath(new URL('../../', import.meta.url))

/** Runs the heap fixture in a process of its own, with `gc()` exposed. */
async function heapReport(env: Record<string, string>): Promise<HeapReport> {
  const { stdout } = await run(
    process.execPath,
    ['--expose-gc', '--conditions=source', '--import', 'tsx', 'spec/fixtures/names-heap.ts'],
    { cwd: root, env: { ...process.env, ...env }, maxBuffer: 1024 * 1024 },
  )
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as HeapReport
}

const MiB = 1024 * 1024

describe('the names of memoized functions', () => {
  describe('NameRegistry', () => {
    it('gives a free name to its first owner, again to that owner, and never to another live owner', () => {
      const names = new NameRegistry()
      const first = {}
      const second = {}
      expect(names.claim('ns:f', first)).to.equal(true)
      expect(names.claim('ns:f', first)).to.equal(true)
      expect(names.claim('ns:f', second)).to.equal(false)
      expect(names.claim('ns:g', second)).to.equal(true)
      expect(names.size).to.equal(2)
    })
  })

  describe('in a cache', () => {
    let cache: Cache
    beforeEach(() => {
      cache = createCache({ prefix: 'names' })
    })
    afterEach(() => cache.close())

    it('keeps a name taken while its function is live, per namespace', async () => {
      const live = memoize(async () => 1, { cache, name: 'report' })
      expect(() => memoize(async () => 2, { cache, name: 'report' })).to.throw(DuplicateNameError, /"report"/)
      expect(() => memoize(async () => 3, { cache: cache.namespace('other'), name: 'report' })).not.to.throw()
      expect(await live()).to.equal(1)
    })
  })

  describe('after garbage collection (a process of its own, with --expose-gc)', () => {
    const ROUNDS = 4
    const PER_ROUND = 20_000
    let report: HeapReport

    before(async function () {
      this.timeout(180_000)
      report = await heapReport({ ROUNDS: String(ROUNDS), PER_ROUND: String(PER_ROUND) })
    })

    it(`forgets collected functions: ${ROUNDS} rounds of ${PER_ROUND} short-lived, distinctly named functions leave the registry near empty and the heap flat`, () => {
      expect(report.rounds).to.have.length(ROUNDS)
      for (const { registry } of report.rounds) expect(registry).to.be.at.most(10)
      const [first, last] = [report.rounds[0]?.heapUsed ?? 0, report.rounds.at(-1)?.heapUsed ?? Infinity]
      // Kept entries cost about 200 bytes each: 60,000 more would be some 12 MiB.
      expect(last - first, `heap in use after round 1: ${first}, after round ${ROUNDS}: ${last}`).to.be.below(3 * MiB)
    })

    it('still refuses the name of a live function after collections (DuplicateNameError)', () => {
      expect(report.liveBlocks).to.equal(true)
    })

    it('frees a name once its function is collected', () => {
      expect(report.freedAfterCollect).to.equal(true)
      expect(report.registryAtEnd).to.be.at.most(2)
    })
  })
})
