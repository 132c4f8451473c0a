import { DecodeError } from '../errors.ts'

/*
 * The first line of an envelope (see `envelope.ts`) read in one pass over its ~60 bytes
 * that makes no string: the bounds of its fields, and the numbers in them.
 */

const NEWLINE = 10
/** The byte that separates the header's fields. */
export const SPACE = 32
const NUMBER = /^-?\d+(?:\.\d+)?(?:e[+-]\d+)?$/

/**
 * Start and end offsets of the header's 6 fields, and of the optional 7th (the
 * validator), filled by `splitHeader`. Shared: decode is synchronous and reads them
 * before it calls out to the codec.
 */
export const bounds = new Int32Array(14)

/**
 * Fills `bounds` from the header line; returns the offset of its newline. A header has
 * 6 fields, or 7 with a validator: then `bounds[12]` < `bounds[13]`; else both are 0.
 */
export function splitHeader(bytes: Buffer, from: number, limit: number): number {
  let n = 0
  let start = from
  for (let i = from; i < limit; i++) {
    const c = bytes[i]
    if (c !== SPACE && c !== NEWLINE) continue
    if (n === 14) break
    bounds[n++] = start
    bounds[n++] = i
    start = i + 1
    if (c === NEWLINE) {
      if (n < 12) break
      if (n === 12) bounds[12] = bounds[13] = 0
      return i
    }
  }
  throw new DecodeError('envelope header is malformed, missing or too long')
}

/**
 * The number in header field `index` (bounds offset). Digits with at most one `.` are
 * read without a string: the digits make an integer n below 2^53 with k of them after
 * the point, and n / 10^k, one correctly rounded division of two exact numbers, is the
 * very number `Number(text)` gives. Anything else (an exponent, more digits) goes the
 * `String(number)` way.
 */
export function numberField(bytes: Buffer, index: number): number {
  const start = bounds[index] as number
  const end = bounds[index + 1] as number
  const negative = bytes[start] === 45
  let i = negative ? start + 1 : start
  let value = 0
  let point = -1
  if (i === end || end - i > 17) return slowNumber(bytes, start, end)
  for (; i < end; i++) {
    const digit = (bytes[i] as number) - 48
    if (digit >= 0 && digit <= 9) value = value * 10 + digit
    else if (digit === -2 && point === -1 && i > start + (negative ? 1 : 0) && i < end - 1) point = i
    else return slowNumber(bytes, start, end)
  }
  if (value > Number.MAX_SAFE_INTEGER) return slowNumber(bytes, start, end)
  if (point !== -1) value /= POWERS_OF_TEN[end - point - 1] as number
  return negative ? -value : value
}

const POWERS_OF_TEN = Array.from({ length: 18 }, (_, k) => 10 ** k)

function slowNumber(bytes: Buffer, start: number, end: number): number {
  const text = bytes.toString('latin1', start, end)
  if (!NUMBER.test(text)) throw new DecodeError('envelope header: a field is not a number')
  return Number(text)
}
