import * as crypto from 'node:crypto'
import { types } from 'node:util'
import { InvalidOptionError, UnkeyableArgumentError } from '../errors.ts'
import { registeredName } from '../codec/registry.ts'

/**
 * Arguments → the last segment of a cache key. The encoding is canonical, type-tagged
 * and self-delimiting (each value's text ends where a reader knows it ends), so the
 * arguments' texts are simply concatenated. Below, `<str>` is `<length>:<text>` with the
 * length in UTF-16 units, so no string content can fake structure.
 *
 *   u undefined   n null   t / f booleans   _ array hole   i<digits>; bigint
 *   d<String(n)>; number (-0 is `d-0;`: 1 / x tells it from 0; every NaN is `dNaN;`)
 *   s<str> string   (…) array   <…> plain or null-prototype object: <str key><value>
 *      per own enumerable key, sorted   D<ms>; Date (invalid: `DNaN;`)
 *   R<str source><flags>; RegExp   M(…) Map: <key><value>   S(…) Set: <member>
 *      (entries sorted by text, so insertion order does not matter)
 *   B<str type><str base64> Buffer, typed array, DataView, (Shared)ArrayBuffer
 *   P<value> boxed primitive   U<str href> URL   Q<str> URLSearchParams
 *   E<str name><str message><…> Error (name and message are not enumerable)
 *   C<str name><…> instance of a class registered with `registerClass`
 *   O<str constructor name><…> instance of any other class. Its own enumerable
 *      properties are all we can see: instances that differ only in private fields (#x)
 *      or closures share a key, and so do same-named classes. Register the class, or
 *      pass plain data.
 *
 * A subclass of a built-in above is keyed as that built-in. An enumerable symbol key is
 * refused; non-enumerable properties and non-index properties of arrays are ignored. No
 * tag is `#` (the mark of a hashed digest), and no structural character is whitespace
 * or one of `{}[]*?\`, so short keys of plain data stay raw and readable.
 */

// The walk keeps the containers on the current path in module-level stacks instead of
// allocating per call: `parents[i]` is being visited at `steps[i]` (an index, property
// key, or Map key, as `kinds[i]` says). A getter that re-enters encodeArgs works above
// `base`, so the outer walk's cycle check and error paths are untouched.
const INDEX = 0, PROP = 1, MAP_KEY = 2, MAP_VALUE = 3, SET_MEMBER = 4
const parents: unknown[] = [], steps: unknown[] = [], kinds: number[] = []
let top = 0, base = 0

const propertyIsEnumerable = Object.prototype.propertyIsEnumerable
const getTime = Date.prototype.getTime
const mapEntries = Map.prototype.entries
const setValues = Set.prototype.values
// The %TypedArray% toStringTag getter names the intrinsic type and cannot be spoofed.
const typedArray = Object.getPrototypeOf(Uint8Array.prototype) as object
const typedArrayName = Object.getOwnPropertyDescriptor(typedArray, Symbol.toStringTag)?.get as (this: unknown) => string | undefined

/**
 * Encodes a call's arguments as canonical, type-tagged text: equal arguments (object
 * keys and Map/Set insertion order aside) give equal text, different ones different
 * text. Throws {@link UnkeyableArgumentError} for functions, symbols (as values or as
 * enumerable keys), WeakMap, WeakSet, WeakRef, Promise, iterators and cycles; a value
 * reached twice without a cycle is fine. No arguments encode as `''`.
 *
 * @example
 * encodeArgs(['42'])                     // 's2:42'
 * encodeArgs([{ b: 1, a: [true, null] }]) // '<1:a(tn)1:bd1;>'
 * encodeArgs([() => 1])                  // throws UnkeyableArgumentError, path 'args[0]'
 */
export function encodeArgs(args: readonly unknown[]): string {
  const outerBase = base, outerTop = top
  base = top
  try {
    enter(args, INDEX)
    return items(args)
  } catch (error) {
    // A stack overflow from a pathologically deep argument is bad input like any other.
    if (error instanceof RangeError) throw new UnkeyableArgumentError('args', 'arguments nested too deeply to key')
    throw error
  } finally {
    // Drop references so that no argument outlives its call (also after a throw).
    for (let i = outerTop; i < top; i++) parents[i] = steps[i] = undefined
    base = outerBase
    top = outerTop
  }
}

/**
 * The encoding of a call with one string or finite number argument, the common case,
 * without the walk's set-up (the same text `encodeArgs` gives); else undefined.
 */
export function encodeOne(args: readonly unknown[]): string | undefined {
  if (args.length !== 1) return undefined
  const v = args[0]
  if (typeof v === 'string') return 's' + v.length + ':' + v
  if (typeof v === 'number' && v !== 0) return 'd' + v + ';'
  return undefined
}

function enc(v: unknown): string {
  switch (typeof v) {
    case 'string': return 's' + v.length + ':' + v
    case 'number': return v === 0 && 1 / v < 0 ? 'd-0;' : 'd' + v + ';'
    case 'boolean': return v ? 't' : 'f'
    case 'undefined': return 'u'
    case 'bigint': return 'i' + v + ';'
    case 'object': return v === null ? 'n' : obj(v)
    default: throw unkeyable(`a ${typeof v} cannot be part of a key`)
  }
}

function str(text: string): string {
  return text.length + ':' + text
}

function obj(o: object): string {
  if (Array.isArray(o)) {
    enter(o, INDEX)
    const out = '(' + items(o as unknown[]) + ')'
    leave()
    return out
  }
  const proto: unknown = Object.getPrototypeOf(o)
  if (proto === Object.prototype || proto === null) return '<' + body(o) + '>'
  if (types.isDate(o)) return 'D' + getTime.call(o) + ';'
  if (ArrayBuffer.isView(o)) return bytes(viewName(o), o.buffer, o.byteOffset, o.byteLength)
  if (types.isArrayBuffer(o)) return bytes('ArrayBuffer', o, 0, o.byteLength)
  if (types.isSharedArrayBuffer(o)) return bytes('SharedArrayBuffer', o, 0, o.byteLength)
  if (types.isMap(o)) return map(o)
  if (types.isSet(o)) return set(o)
  if (types.isRegExp(o)) return 'R' + str(o.source) + o.flags + ';'
  if (types.isBoxedPrimitive(o)) return 'P' + enc(o.valueOf())
  if (o instanceof URL) return 'U' + str(o.href)
  if (o instanceof URLSearchParams) return 'Q' + str(o.toString())
  if (types.isWeakMap(o) || types.isWeakSet(o) || o instanceof WeakRef || types.isPromise(o)) {
    throw unkeyable(`a ${types.isPromise(o) ? 'Promise' : className(proto)} cannot be part of a key`)
  }
  if (types.isGeneratorObject(o) || types.isMapIterator(o) || types.isSetIterator(o)) {
    throw unkeyable('an iterator cannot be part of a key (its state is hidden)')
  }
  if (o instanceof Error) return 'E' + str(String(o.name)) + str(String(o.message)) + '<' + body(o) + '>'
  const registered = registeredName(o)
  if (registered !== undefined) return 'C' + str(registered) + '<' + body(o) + '>'
  return 'O' + str(className(proto)) + '<' + body(o) + '>'
}

/** Own enumerable string-keyed properties, sorted by key, as `<length>:<key><value>`. */
function body(o: object): string {
  enter(o, PROP)
  for (const symbol of Object.getOwnPropertySymbols(o)) {
    if (propertyIsEnumerable.call(o, symbol)) {
      steps[top - 1] = symbol
      throw unkeyable('a symbol-keyed property cannot be part of a key')
    }
  }
  const keys = Object.keys(o), level = top - 1
  // Skip the sort when the keys were written in order, as small objects often are.
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) {
      keys.sort()
      break
    }
  }
  let out = ''
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!
    steps[level] = k
    out += k.length + ':' + k + enc((o as Record<string, unknown>)[k])
  }
  leave()
  return out
}

function items(a: readonly unknown[]): string {
  const level = top - 1
  let out = ''
  for (let i = 0; i < a.length; i++) {
    steps[level] = i
    const v = a[i]
    out += v === undefined && !(i in a) ? '_' : enc(v)
  }
  return out
}

// Sorting the entries' texts makes insertion order irrelevant; Map entries whose keys
// encode alike (two distinct `{}` keys) are ordered by their values' texts.
function map(m: Map<unknown, unknown>): string {
  enter(m, MAP_KEY)
  const level = top - 1, entries: string[] = []
  let i = 0
  for (const [k, v] of mapEntries.call(m)) {
    kinds[level] = MAP_KEY
    steps[level] = i++
    const key = enc(k)
    kinds[level] = MAP_VALUE
    steps[level] = k
    entries.push(key + enc(v))
  }
  leave()
  return 'M(' + entries.sort().join('') + ')'
}

function set(s: Set<unknown>): string {
  enter(s, SET_MEMBER)
  const level = top - 1, members: string[] = []
  let i = 0
  for (const v of setValues.call(s)) {
    steps[level] = i++
    members.push(enc(v))
  }
  leave()
  return 'S(' + members.sort().join('') + ')'
}

function bytes(type: string, buffer: ArrayBufferLike, offset: number, length: number): string {
  return 'B' + str(type) + str(Buffer.from(buffer, offset, length).toString('base64'))
}

function viewName(view: ArrayBufferView): string {
  return Buffer.isBuffer(view) ? 'Buffer' : (typedArrayName.call(view) ?? 'DataView')
}

function className(proto: unknown): string {
  const ctor: unknown = (proto as { constructor?: unknown }).constructor
  return typeof ctor === 'function' ? ctor.name : ''
}

function enter(o: object, kind: number): void {
  // Only ancestors count: a value met again on another branch (a DAG) is fine.
  for (let i = base; i < top; i++) {
    if (parents[i] === o) throw unkeyable('a cycle cannot be part of a key')
  }
  parents[top] = o
  kinds[top] = kind
  top++
}

function leave(): void {
  top--
  parents[top] = steps[top] = undefined
}

/** The error for the value at the current step, with a path like `args[0].user.tags[2]`. */
function unkeyable(message: string): UnkeyableArgumentError {
  let path = 'args'
  for (let i = base; i < top; i++) {
    const step = steps[i]
    const shown = typeof step === 'string' ? JSON.stringify(step) : typeof step === 'object' && step !== null ? '{…}' : String(step)
    const kind = kinds[i]
    if (kind === INDEX) path += `[${shown}]`
    else if (kind === MAP_KEY) path += `.keys()[${shown}]`
    else if (kind === SET_MEMBER) path += `.values()[${shown}]`
    else if (kind === MAP_VALUE) path += `.get(${shown})`
    else path += typeof step === 'string' && /^[A-Za-z_$][\w$]*$/.test(step) ? '.' + step : `[${shown}]`
  }
  return new UnkeyableArgumentError(path, message)
}

// ASCII that user text never carries into a key as is. 1: whitespace and controls
// (unreadable), glob, hash-tag and escape characters: kept out of raw digests and key
// segments. 2: the escape `%`, the separator `:` and `!` (internal keys such as
// `!lock`): kept out of key segments.
const UNSAFE = new Uint8Array(128)
for (let c = 0; c <= 0x20; c++) UNSAFE[c] = 1
for (const ch of '\x7f{}[]*?\\') UNSAFE[ch.charCodeAt(0)] = 1
for (const ch of '%:!') UNSAFE[ch.charCodeAt(0)] = 2

/**
 * Turns an encoding into the last segment of a key: the text itself when it is at most
 * 64 characters of printable ASCII without whitespace, `{}[]*?\` or a leading `#` (so
 * it reads well in redis-cli and is safe in a SCAN pattern or a cluster key), else `#`
 * and the base64url SHA-256 of it (43 characters). The two forms never collide, since no
 * raw digest starts with `#`.
 *
 * @example
 * digest('s2:42')                     // 's2:42'
 * digest(encodeArgs(['hello world'])) // '#' + 43 base64url characters
 */
export function digest(encoded: string): string {
  let raw = encoded.length <= 64 && encoded.charCodeAt(0) !== 0x23
  for (let i = 0; raw && i < encoded.length; i++) {
    const c = encoded.charCodeAt(i)
    if (c >= 128 || UNSAFE[c] === 1) raw = false
  }
  if (raw) return encoded
  if (LONE_SURROGATE.test(encoded)) {
    // UTF-8 turns every lone surrogate into U+FFFD and would merge distinct texts: hash
    // the UTF-16 units instead, after a 0xFF byte that no UTF-8 text contains.
    return '#' + crypto.createHash('sha256').update(NOT_UTF8).update(encoded, 'utf16le').digest('base64url')
  }
  // crypto.hash (Node 20.12+) is a one-shot without a Hash object, about twice as fast.
  return '#' + (oneShotHash !== undefined
    ? oneShotHash('sha256', encoded, 'base64url')
    : crypto.createHash('sha256').update(encoded).digest('base64url'))
}

/**
 * A lone surrogate: half of a UTF-16 pair without its other half. It has no UTF-8 form:
 * sent to Redis (keys are bytes) it becomes U+FFFD, and two distinct texts one key. The
 * one statement of that rule; `test` it on a text (the regex has no `g` flag, so it
 * keeps no state between calls).
 */
export const LONE_SURROGATE = /\p{Cs}/u
const NOT_UTF8 = Buffer.of(0xff)
const oneShotHash = typeof crypto.hash === 'function' ? crypto.hash : undefined

const UNICODE_SPACE = /\s/

function mustEscape(text: string, i: number): boolean {
  const c = text.charCodeAt(i)
  if (c < 128) return UNSAFE[c] !== 0
  if (c <= 0x9f) return true // C1 controls
  // A lone surrogate is escaped, a well-formed pair kept: the unit is tested with its
  // partner's place (the next unit for a high surrogate, the previous for a low one).
  if (c >= 0xd800 && c <= 0xdbff) return LONE_SURROGATE.test(text.slice(i, i + 2))
  if (c >= 0xdc00 && c <= 0xdfff) return LONE_SURROGATE.test(text.slice(Math.max(0, i - 1), i + 1))
  return UNICODE_SPACE.test(text[i]!)
}

/**
 * Escapes user text (a namespace or a function name) into one `:`-separated segment of
 * a Redis key. `%`, `:`, whitespace (Unicode too), `*`, `?`, `[`, `]`, `{`, `}`, `\`, `!`,
 * control characters and lone surrogates are percent-encoded (`%3A`; UTF-8 bytes for
 * non-ASCII; `%uD800` for a lone surrogate), so the result never holds a separator, a
 * glob character, a hash-tag brace or `!`, and distinct texts stay distinct. Throws
 * {@link InvalidOptionError} for an empty text.
 *
 * @example
 * keySegment('getUser')      // 'getUser'
 * keySegment('users:{eu}*')  // 'users%3A%7Beu%7D%2A'
 */
export function keySegment(text: string): string {
  if (typeof text !== 'string' || text.length === 0) {
    throw new InvalidOptionError(`a namespace or function name must be a non-empty string, got ${JSON.stringify(text)}`)
  }
  let i = 0
  while (i < text.length && !mustEscape(text, i)) i++
  if (i === text.length) return text
  let out = text.slice(0, i)
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (!mustEscape(text, i)) out += text[i]
    else if (c < 128) out += '%' + (c < 16 ? '0' : '') + c.toString(16).toUpperCase()
    else if (c >= 0xd800 && c <= 0xdfff) out += '%u' + c.toString(16).toUpperCase()
    else out += encodeURIComponent(text[i]!)
  }
  return out
}
