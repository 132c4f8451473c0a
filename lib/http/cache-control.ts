/**
 * `Cache-Control` and `CDN-Cache-Control` (RFC 9111 §5.2, RFC 9213), read one way: every
 * other module asks {@link parseCacheControl} and {@link deltaSeconds}.
 */

/** Directives by lowercase name: the value (unquoted), or true for one without a value. The first occurrence wins. */
export type Directives = ReadonlyMap<string, string | true>

const EMPTY: Directives = new Map()
const TOKEN = /[!#$%&'*+.^_`|~0-9a-z-]/i

/** The directives of a header value (several field lines joined with commas); a malformed part is skipped. */
export function parseCacheControl(value: string | number | readonly string[] | undefined): Directives {
  if (value === undefined) return EMPTY
  const text = typeof value === 'object' ? value.join(',') : String(value)
  if (text === '') return EMPTY
  const directives = new Map<string, string | true>()
  let i = 0
  while (i < text.length) {
    const start = skipSpace(text, i)
    let end = start
    while (end < text.length && TOKEN.test(text.charAt(end))) end++
    const name = text.slice(start, end).toLowerCase()
    let at = skipSpace(text, end)
    let arg: string | true = true
    if (text.charAt(at) === '=') {
      const read = readValue(text, skipSpace(text, at + 1))
      arg = read.value
      at = read.end
    }
    if (name !== '' && !directives.has(name)) directives.set(name, arg)
    const comma = text.indexOf(',', at)
    i = comma < 0 ? text.length : comma + 1
  }
  return directives
}

function skipSpace(text: string, at: number): number {
  while (text.charAt(at) === ' ' || text.charAt(at) === '\t') at++
  return at
}

/** A token, or a quoted string (its escapes undone), from `at`. */
function readValue(text: string, at: number): { value: string; end: number } {
  if (text.charAt(at) !== '"') {
    let end = at
    while (end < text.length && TOKEN.test(text.charAt(end))) end++
    return { value: text.slice(at, end), end }
  }
  let value = ''
  let i = at + 1
  for (; i < text.length && text.charAt(i) !== '"'; i++) {
    if (text.charAt(i) === '\\') i++
    value += text.charAt(i)
  }
  return { value, end: i + 1 }
}

/** Larger delta-seconds are read as this (RFC 9111 §1.2.2). */
const MAX_DELTA = 2147483648

/**
 * A directive's delta-seconds: undefined when absent, NaN when present but not a
 * non-negative integer (a response with one is treated as stale, RFC 9111 §4.2.1).
 */
export function deltaSeconds(directives: Directives, name: string): number | undefined {
  const value = directives.get(name)
  if (value === undefined) return undefined
  if (value === true || !/^[0-9]+$/.test(value)) return Number.NaN
  return Math.min(Number(value), MAX_DELTA)
}
