import { runFuzz } from './mutate.ts'

/**
 * `npm run fuzz -- --seconds 60 --seed 123 [--count 100000]`: feeds mutated envelopes to
 * Envelope.decode (see mutate.ts for what is mutated and what is checked), prints the
 * seed, the number of inputs and how each ended, and exits 1 on any violation. The same
 * seed and count replay the same inputs.
 */

function arg(name: string): number | undefined {
  const i = process.argv.indexOf(`--${name}`)
  if (i === -1) return undefined
  const value = Number(process.argv[i + 1])
  if (!Number.isFinite(value) || value < 0) {
    console.error(`--${name} needs a non-negative number, got ${process.argv[i + 1] ?? 'nothing'}`)
    process.exit(2)
  }
  return value
}

const seed = arg('seed') ?? Math.floor(Math.random() * 2 ** 32)
const count = arg('count')
const seconds = arg('seconds') ?? (count === undefined ? 10 : undefined)
const started = Date.now()
const report = runFuzz({ seed, count, seconds })
const elapsed = (Date.now() - started) / 1000
const outcomes = Object.entries(report.outcomes)
  .sort((a, b) => b[1] - a[1])
  .map(([outcome, n]) => `${outcome}=${n}`)
  .join(' ')
console.log(`seed=${seed} count=${report.count} seconds=${elapsed.toFixed(1)} ${outcomes}`)
for (const v of report.violations) {
  console.log(`VIOLATION at iteration ${v.iteration} (seed ${seed}): ${v.problem}\n  mutations: ${v.kinds.join(', ')}\n  input (base64): ${v.input}`)
}
if (report.violations.length > 0) {
  console.log(`${report.violations.length} violation(s); replay with --seed ${seed} --count ${report.count}`)
  process.exit(1)
}
