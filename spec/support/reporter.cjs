'use strict'
// mocha's spec reporter, closing with a plain "N passed, N failed" line that any CI can
// read (mocha's own summary is not a format every runner reader knows).
const Mocha = require('mocha')

const { EVENT_RUN_END } = Mocha.Runner.constants

class Reporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options)
    runner.once(EVENT_RUN_END, () => {
      const { passes, failures, pending } = this.stats
      process.stdout.write(`${passes} passed, ${failures} failed${pending > 0 ? `, ${pending} skipped` : ''}\n`)
    })
  }
}

module.exports = Reporter
