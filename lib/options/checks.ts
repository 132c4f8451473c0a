import { InvalidOptionError } from '../errors.ts'

/**
 * The small checks option validation is made of, each refusing a wrong value with
 * `InvalidOptionError` naming the option, and the one way a wrong value is told in
 * those messages ({@link describeValue}).
 */

/**
 * A value as an error message shows it after "got": a string quoted (`"5 minutes"`), a
 * number or boolean as written, a bigint with its `n`, `null` and `undefined` by name,
 * and anything bigger by its kind (`a function`, `an array`, `an object`), never its
 * contents (which may be large, or secret).
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'function') return 'a function'
  if (value === null || typeof value !== 'object') return String(value)
  return Array.isArray(value) ? 'an array' : 'an object'
}

/** A whole number of at least `min`. */
export function integer(value: unknown, option: string, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new InvalidOptionError(`${option} must be a whole number of at least ${min}, got ${describeValue(value)}`)
  }
  return value
}

/** A number from 0 to 1. */
export function ratio(value: unknown, option: string): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
    throw new InvalidOptionError(`${option} must be a number from 0 to 1, got ${describeValue(value)}`)
  }
  return value
}

/** `true` or `false`. */
export function bool(value: unknown, option: string): boolean {
  if (typeof value !== 'boolean') throw new InvalidOptionError(`${option} must be true or false, got ${describeValue(value)}`)
  return value
}

/** A function, or undefined when not given. */
export function fn<F>(value: unknown, option: string): F | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'function') throw new InvalidOptionError(`${option} must be a function, got ${describeValue(value)}`)
  return value as F
}

/** An options object (not an array, not null); `{}` when not given. */
export function plainObject(value: unknown, option: string): Record<string, unknown> {
  if (value === undefined) return {}
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidOptionError(`${option} must be an object, got ${describeValue(value)}`)
  }
  return value as Record<string, unknown>
}

/**
 * The `tags` option: a list of strings, or a function (of the value, or of the call and
 * its result: the caller's own type says which).
 */
export function checkTags(value: unknown, option: string): void {
  if (typeof value === 'function' || (Array.isArray(value) && value.every((t) => typeof t === 'string'))) return
  throw new InvalidOptionError(`${option} must be an array of strings or a function, got ${describeTags(value)}`)
}

/** What was given where a list of tags was wanted: an array is told by its first item that is not a string. */
export function describeTags(value: unknown): string {
  if (!Array.isArray(value)) return describeValue(value)
  return `an array holding ${describeValue(value.find((t) => typeof t !== 'string'))}`
}
