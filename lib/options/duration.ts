import { InvalidOptionError } from '../errors.ts'
import { describeValue } from './checks.ts'

/** Durations (`'250ms'`, `'30s'`, `'5m'`, `'2h'`, `'1d'`, or milliseconds) to milliseconds. */

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/

/**
 * Parses a duration (the `Duration` option type) into milliseconds (rounded to a whole number).
 * @throws InvalidOptionError naming `option` when it is not a duration, or is negative
 *   (or zero, unless `allowZero`).
 */
export function parseDuration(value: unknown, option: string, allowZero = false): number {
  let ms = Number.NaN
  if (typeof value === 'number') ms = value
  else if (typeof value === 'string') {
    const match = DURATION.exec(value.trim())
    if (match !== null) ms = Number(match[1]) * (UNITS[match[2] as string] as number)
  }
  if (!Number.isFinite(ms) || ms < 0 || (ms === 0 && !allowZero)) {
    const kind = allowZero ? 'a duration' : 'a positive duration'
    throw new InvalidOptionError(
      `${option} must be ${kind} like '5m' or 300000 (ms; units ms, s, m, h, d), got ${describeValue(value)}`,
    )
  }
  return Math.round(ms)
}
