import { expect } from 'chai'
import { runFuzz, type FuzzReport } from '../fuzz/mutate.ts'

// A fixed seed, so that a failure here fails the same way every run; `npm run fuzz`
// explores other seeds for longer.
const SEED = 0x5eed
const COUNT = 10_000

function explain(report: FuzzReport): string {
  return report.violations
    .map((v) => `seed ${report.seed}, iteration ${v.iteration}: ${v.problem}\n  mutations: ${v.kinds.join(', ')}\n  input (base64): ${v.input}`)
    .join('\n')
}

describe('Envelope.decode under mutated input (fuzz)', function () {
  this.timeout(60_000)

  it(`returns a well-formed entry or throws DecodeError, SignatureError or ValueTooLargeError for ${COUNT} mutated envelopes, and never changes a prototype`, () => {
    const report = runFuzz({ seed: SEED, count: COUNT })
    expect(report.violations, explain(report)).to.deep.equal([])
    expect(report.count).to.equal(COUNT)
    // Every outcome was reached, so the mutations get past each layer of checks.
    expect(report.outcomes.entry ?? 0).to.be.greaterThan(COUNT / 50)
    expect(report.outcomes.DecodeError ?? 0).to.be.greaterThan(COUNT / 4)
    expect(report.outcomes.SignatureError ?? 0).to.be.greaterThan(COUNT / 50)
    expect(report.outcomes.ValueTooLargeError ?? 0).to.be.greaterThan(COUNT / 100)
    expect(Object.keys(report.outcomes).sort()).to.deep.equal(['DecodeError', 'SignatureError', 'ValueTooLargeError', 'entry'])
  })
})
