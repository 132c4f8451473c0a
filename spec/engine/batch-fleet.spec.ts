import { expect } from 'chai'
import { Child } from '../support/child.ts'
import { eachTopology, type TopologyHandle } from '../support/topology.ts'

/**
 * Batches across real processes: four child processes share one Redis (a single node,
 * then the 3-master cluster), 50 callers each ask overlapping batches, and the batch
 * function counts each key it computes with a Redis INCR, so that "once" means once in
 * the whole fleet.
 */

const WORKER = new URL('../fixtures/batch-worker.ts', import.meta.url)
const valueOf = (key: string): string => `value of ${key}`

interface Burst {
  values: (string | undefined)[][]
  ms: number
}

/** Caller `caller` of process `p`: 10 of 100 keys, overlapping every other caller's. */
function batchOf(round: string, p: number, caller: number): string[] {
  return Array.from({ length: 10 }, (_, j) => `${round}:${(p * 13 + caller * 7 + j * 11) % 100}`)
}

async function runsOf(t: TopologyHandle, keys: string[]): Promise<number[]> {
  return Promise.all(keys.map(async (key) => Number((await t.client.get(`runs:${key}`)) ?? 0)))
}

eachTopology((t) => {
  describe('batches across processes', () => {
    const fleet: Child[] = []
    before(async function () {
      this.timeout(60_000)
      fleet.push(...(await Promise.all([0, 1, 2, 3].map(() => Child.start(WORKER, t.env())))))
      await Promise.all(fleet.map((child) => child.call('open', { prefix: 'spec', ttl: '1m' })))
    })
    after(async () => {
      await Promise.all(fleet.splice(0).map((child) => child.stop()))
    })

    /** Every process asks its batches at once; the function takes `fnMs`. */
    const burst = (batches: (p: number) => string[][], fnMs: number, how: 'getOrSetMany' | 'memoizeBatch'): Promise<Burst[]> => {
      const startAt = Date.now() + 30
      return Promise.all(fleet.map((child, p) => child.call<Burst>('burst', batches(p), fnMs, startAt, how)))
    }

    for (const how of ['getOrSetMany', 'memoizeBatch'] as const) {
      it(`computes each key once in the fleet: 4 processes x 50 callers of overlapping batches (${how}), 3 rounds`, async function () {
        this.timeout(60_000)
        for (let round = 0; round < 3; round++) {
          const name = `${how}:${round}`
          const asked = (p: number): string[][] => Array.from({ length: 50 }, (_, caller) => batchOf(name, p, caller))
          const bursts = await burst(asked, 100, how)
          bursts.forEach((b, p) => expect(b.values, `process ${p}`).to.deep.equal(asked(p).map((keys) => keys.map(valueOf))))
          const keys = [...new Set([0, 1, 2, 3].flatMap((p) => asked(p).flat()))]
          expect(keys).to.have.length(100)
          expect(await runsOf(t, keys), `runs per key in round ${round}`).to.deep.equal(keys.map(() => 1))
        }
      })
    }

    it('computes a cold batch of 100 keys asked by 4 processes at once once per key, with at most one call of the function per process', async function () {
      this.timeout(30_000)
      const keys = Array.from({ length: 100 }, (_, i) => `cold:${i}`)
      const before = Number((await t.client.get('calls')) ?? 0)
      const statsBefore = await Promise.all(fleet.map((child) => child.call<{ computations: number }>('stats')))
      const bursts = await burst(() => [keys], 200, 'getOrSetMany')
      for (const b of bursts) expect(b.values).to.deep.equal([keys.map(valueOf)])
      expect(await runsOf(t, keys)).to.deep.equal(keys.map(() => 1))
      expect(Number(await t.client.get('calls')) - before).to.be.within(1, 4)
      const stats = await Promise.all(fleet.map((child) => child.call<{ computations: number }>('stats')))
      expect(stats.reduce((sum, s, p) => sum + s.computations - (statsBefore[p]?.computations ?? 0), 0)).to.equal(100)
    })
  })
})
