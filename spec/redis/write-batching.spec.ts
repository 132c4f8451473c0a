import { expect } from 'chai'
import sinon from 'sinon'
import type { Redis } from 'ioredis'
import { useCaches } from '../fixtures/stampede-helpers.ts'
import { ioredisOf } from '../support/internals.ts'

/**
 * How commands leave for Redis: the first of a tick at once, the others of that tick
 * sharing socket writes, a write per 8 commands, so that Redis starts on the first ones
 * while the process still prepares the rest. Observed on the real socket of a real connection (its writes are spied on, not
 * replaced).
 */
describe('Redis tier: commands sent in one tick', () => {
  const { make } = useCaches()

  async function socketOf(): Promise<{ cache: ReturnType<typeof make>; writes: () => number }> {
    const cache = make({ l1: false })
    await cache.get('warm-up')
    const stream = (ioredisOf(cache) as Redis).stream
    const writev = sinon.spy(stream, '_writev')
    const write = sinon.spy(stream, '_write')
    return { cache, writes: () => writev.callCount + write.callCount }
  }

  afterEach(() => sinon.restore())

  it('leave the first at once, then in one socket write per 8 commands: 20 reads in 4 writes, all answered', async () => {
    const { cache, writes } = await socketOf()
    await Promise.all(Array.from({ length: 20 }, (_, i) => cache.set(`k${i}`, i)))
    const before = writes()
    const values = await Promise.all(Array.from({ length: 20 }, (_, i) => cache.get(`k${i}`)))
    expect(values).to.deep.equal(Array.from({ length: 20 }, (_, i) => i))
    expect(writes() - before).to.equal(4)
  })

  it('leave in two writes when there are 9 or fewer, and a lone command in a write of its own', async () => {
    const { cache, writes } = await socketOf()
    const before = writes()
    await Promise.all(Array.from({ length: 9 }, (_, i) => cache.get(`absent${i}`)))
    expect(writes() - before).to.equal(2)
    await cache.get('absent')
    expect(writes() - before).to.equal(3)
  })
})
