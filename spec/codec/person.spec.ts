import { expect } from 'chai'
import { Child } from '../support/child.ts'
import { eachTopology } from '../support/topology.ts'
import { richValue } from '../fixtures/person-model.ts'

/**
 * The pickle example from the original article, across real processes: one child
 * process computes a `Person('John', 20)` and stores it through Redis; another, with an
 * L1 of its own, reads it back as a `Person` whose methods work — without running the
 * function, and without the reader ever executing code from the stored bytes.
 */

const script = new URL('../fixtures/person-child.ts', import.meta.url)

interface ReadReport {
  runs: number
  isPerson: boolean
  text: string
  fields: Record<string, unknown>
}

interface RichReport {
  runs: number
  value: Record<string, unknown>
  missingKept: boolean
  classes: Record<string, unknown>
}

describe('the Person example across processes', () => {
  eachTopology((t) => {
    let writer: Child
    let reader: Child
    // Started once per topology: each test uses arguments of its own, and counts runs from where they were.
    before(async function () {
      this.timeout(30_000)
      ;[writer, reader] = await Promise.all([Child.start(script, t.env()), Child.start(script, t.env())])
    })
    after(async () => {
      await Promise.all([writer.stop(), reader.stop()])
    })

    it('reads back, in another process, the Person another process saved: a Person whose toString works', async () => {
      expect(writer.pid).to.not.equal(reader.pid)
      const [wrote, read0] = await Promise.all([writer.call<number>('runs'), reader.call<number>('runs')])
      expect(await writer.call('save', 'John', 20)).to.deep.equal({ runs: wrote + 1, text: 'John is 20 years old' })
      const read = await reader.call<ReadReport>('read', 'John', 20)
      expect(read).to.deep.equal({
        runs: read0,
        isPerson: true,
        text: 'John is 20 years old',
        fields: { name: 'John', age: 20, address: undefined },
      })
    })

    it('computes again in the reader for other arguments', async () => {
      await writer.call('save', 'Ann', 40)
      const read0 = await reader.call<number>('runs')
      const read = await reader.call<ReadReport>('read', 'Ann', 41)
      expect(read.runs).to.equal(read0 + 1)
      expect(read.text).to.equal('Ann is 41 years old')
    })

    it('brings back Dates, Maps, Sets, BigInts, undefined inside objects and nested class instances', async () => {
      const [wrote, read0] = await Promise.all([writer.call<number>('runs'), reader.call<number>('runs')])
      expect(await writer.call('saveRich')).to.deep.equal({ runs: wrote + 1 })
      const read = await reader.call<RichReport>('readRich')
      expect(read.runs).to.equal(read0)
      expect(read.missingKept).to.equal(true)
      expect(read.classes).to.deep.equal({
        peopleArePersons: true,
        texts: ['John is 20 years old', 'Mary is 31 years old'],
        addressIsAddress: true,
        address: 'Lisbon since 2019',
        mapValueIsPerson: true,
        sameInstanceInMapAndArray: true,
      })
      // The structure and every plain value, compared field by field (instances as plain data).
      const expected = JSON.parse(JSON.stringify(richValue(), (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))) as unknown
      const actual = JSON.parse(JSON.stringify(read.value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))) as unknown
      expect(actual).to.deep.equal(expected)
      const v = read.value
      expect(v.when).to.be.instanceOf(Date)
      expect((v.when as Date).toISOString()).to.equal('2024-02-29T12:34:56.789Z')
      expect(v.scores).to.deep.equal(new Map([['math', 19], ['art', 17]]))
      expect(v.tags).to.deep.equal(new Set(['a', 'b']))
      expect(v.big).to.equal(2n ** 80n + 1n)
      expect(Object.hasOwn(v.nested as object, 'deeper')).to.equal(true)
      const deeper = (v.nested as { deeper: { missing: undefined; list: unknown[] } }).deeper
      expect(Object.hasOwn(deeper, 'missing')).to.equal(true)
      expect(deeper.list).to.deep.equal([1, undefined, 3])
    })
  })
})
