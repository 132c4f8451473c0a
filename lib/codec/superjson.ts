import { SuperJSON } from 'superjson'
import type { SuperJSONResult } from 'superjson'
import type { Codec } from './types.ts'
import { DecodeError } from '../errors.ts'
import { MARK, prepareValue, restoreMarks } from './marks.ts'
import { plainSuperjson } from './plain-superjson.ts'
import { onRegister } from './registry.ts'

/**
 * The default payload codec: superjson, hardened for bytes that may have been written by
 * an attacker. A private `SuperJSON` instance (never the global one, which any library in
 * the process could register classes or custom transformers into) knows exactly the
 * classes of `registry.ts`, plus Node Buffers.
 *
 * What superjson 2.2 already guards (read in node_modules/superjson/dist): `getDeep`/
 * `setDeep` refuse a path segment equal to `__proto__`, `constructor` or `prototype`;
 * the serializer refuses own keys with those names; classes are restored with
 * `Object.create(prototype)` (the constructor never runs); registries are Maps.
 *
 * What it does not, and `decode` below adds before superjson sees anything:
 * - own `__proto__` keys made by JSON.parse: superjson restores a class with
 *   `Object.assign`, whose `__proto__` setter swaps the instance's prototype for attacker
 *   data. Any own `__proto__`/`constructor`/`prototype` key anywhere is refused (the
 *   serializer never writes one, so no honest value is lost).
 * - `Object.assign` also runs setters: a class field that is an accessor, a read-only or
 *   a method anywhere on the class's prototype chain is refused.
 * - annotation names are looked up in plain objects (`'constructor'` finds `Object`);
 *   only the known ones are accepted, symbols and unknown custom types never.
 * - restoring an Error runs ToString on its message, which for a registered class
 *   instance is that class's own code: an Error's name and message must be strings.
 *   BigInt parsing is superlinear: a bigint has at most 100,000 digits.
 * - a malformed annotation tree recurses forever (a string is walked as an object); the
 *   tree's shape is checked, its depth and path lengths are capped.
 * - paths may name missing or inherited properties: `a.toString` copies
 *   `Object.prototype.toString` into the value, `a.99999999` makes a sparse array that
 *   a `set` annotation then iterates for seconds. Every path must follow own properties
 *   and in-range indices of the parsed JSON, each annotated node must have the JSON type
 *   its annotation expects, and no annotation may sit inside another one's subtree except
 *   as its child, so each one meets the JSON exactly as checked.
 */
const sj = new SuperJSON()
/**
 * The instance of documents with marks (`codec-marks.ts`): the same registrations, and
 * an Error's MARK field written and restored with it.
 */
const sjMarked = new SuperJSON()
sjMarked.allowErrorProps(MARK)
const instances = [sj, sjMarked]

/** Per registered name: keys an own field may not take (setters, read-only, methods). */
const guardedKeys = new Map<string, ReadonlySet<string>>()

onRegister((cls, name) => {
  for (const instance of instances) instance.registerClass(cls as unknown as Parameters<SuperJSON['registerClass']>[0], { identifier: name })
  const keys = new Set<string>()
  for (let proto: object | null = cls.prototype as object; proto !== null; proto = Object.getPrototypeOf(proto) as object | null) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      const d = Object.getOwnPropertyDescriptor(proto, key)
      if (d !== undefined && (d.get !== undefined || d.set !== undefined || d.writable !== true || typeof d.value === 'function')) keys.add(key)
    }
  }
  guardedKeys.set(name, keys)
})

const SPECIAL_NUMBERS = new Set(['NaN', 'Infinity', '-Infinity', '-0'])
const isSpecial = (n: number): boolean => !Number.isFinite(n) || Object.is(n, -0)
/** A float array's numbers, with NaN, ±Infinity and -0 as superjson writes them (JSON would write null or 0). */
const floats = (v: Float32Array | Float64Array): (number | string)[] => Array.from(v, (n) => (isSpecial(n) ? (Object.is(n, -0) ? '-0' : String(n)) : n))
const fromFloats = (v: readonly (number | string)[]): number[] => v.map(Number)

for (const instance of instances) {
  // Buffers are Uint8Arrays named 'Buffer', which superjson's typed-array rule cannot restore.
  instance.registerCustom<Buffer, string>(
    { isApplicable: (v): v is Buffer => Buffer.isBuffer(v), serialize: (v) => v.toString('base64'), deserialize: (v) => Buffer.from(v, 'base64') },
    'Buffer',
  )
  // superjson writes an Invalid Date as null (JSON.stringify's toJSON), and loses it.
  instance.registerCustom<Date, null>(
    { isApplicable: (v): v is Date => v instanceof Date && Number.isNaN(v.getTime()), serialize: () => null, deserialize: () => new Date(Number.NaN) },
    'InvalidDate',
  )
  // superjson writes typed arrays as JSON arrays, where NaN and ±Infinity become null and -0 becomes 0.
  for (const Float of [Float32Array, Float64Array]) {
    instance.registerCustom<Float32Array | Float64Array, (number | string)[]>(
      { isApplicable: (v): v is Float64Array => v instanceof Float && v.some(isSpecial), serialize: floats, deserialize: (v) => new Float(fromFloats(v)) },
      Float.name,
    )
  }
}

const CUSTOM_NAMES = new Set(['Buffer', 'InvalidDate', 'Float32Array', 'Float64Array'])
const TYPED_NAMES = new Set([Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array].map((c) => c.name))
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype'])
const ERROR_KEYS = new Set(['name', 'message', 'cause', MARK])
const BIGINT = /^-?\d{1,100000}$/
/** Annotation trees deeper than this, or paths longer than this, are refused. */
const MAX_DEPTH = 512
const MAX_PATH = 10_000

/** superjson, hardened for decoding untrusted bytes. Name `'superjson'`. */
export const superjsonCodec: Codec = {
  name: 'superjson',
  encode: (value) => encodeSuperjson(value, false, () => {}),
  decode,
}

/**
 * The superjson document of `value`, written by `plainSuperjson` when the value is JSON
 * data and Dates, else by superjson after `prepareValue(value, strict, warn)` (which
 * refuses what could not come back, and marks what superjson alone would change).
 */
export function encodeSuperjson(value: unknown, strict: boolean, warn: (className: string) => void): string {
  const plain = plainSuperjson(value)
  if (plain !== undefined) return plain
  const prepared = prepareValue(value, strict, warn)
  if (!prepared.marked) return sj.stringify(prepared.value)
  return JSON.stringify({ ...sjMarked.serialize(prepared.value), mr: 1 })
}

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const hasOwn = Object.prototype.hasOwnProperty
const fail = (why: string): never => {
  throw new DecodeError(`hostile or corrupt superjson payload: ${why}`)
}

function decode(bytes: Buffer): unknown {
  const text = bytes.toString('utf8')
  const doc: unknown = JSON.parse(text)
  // A forbidden key needs its name in the text, or a \u escape to spell it: only then walk.
  if (text.includes('proto') || text.includes('constructor') || text.includes('\\u')) refuseForbiddenKeys(doc)
  if (!isObj(doc) || !hasOwn.call(doc, 'json')) return fail('not a superjson document')
  const json = doc.json
  const withMeta = hasOwn.call(doc, 'meta')
  const marked = hasOwn.call(doc, 'mr')
  if (marked && doc.mr !== 1) fail('unknown mr version')
  if (Object.keys(doc).length !== 1 + (withMeta ? 1 : 0) + (marked ? 1 : 0)) fail('unknown top-level key')
  if (!marked) return withMeta ? restore(json, doc.meta, sj) : json // no meta: superjson would return json as it is
  return restoreMarks(withMeta ? restore(json, doc.meta, sjMarked) : json)
}

/** The value of a document with `meta`: Dates only restored here, anything else checked and given to `instance`. */
function restore(json: unknown, meta: unknown, instance: SuperJSON): unknown {
  if (datesOnly(meta)) return withDates(json, meta.values)
  checkMeta(meta, json)
  return instance.deserialize({ json: json as SuperJSONResult['json'], meta: meta as SuperJSONResult['meta'] }, { inPlace: true })
}

/** `meta` annotating Dates and nothing else, at paths below the root: the common case, restored without superjson. */
function datesOnly(meta: unknown): meta is { v: 1; values: Obj } {
  if (!isObj(meta) || !hasOwn.call(meta, 'v') || meta.v !== 1 || !hasOwn.call(meta, 'values') || Object.keys(meta).length !== 2) return false
  const values = meta.values
  if (!isObj(values)) return false
  for (const key of Object.keys(values)) {
    const annotation = values[key]
    if (!Array.isArray(annotation) || annotation.length !== 1 || annotation[0] !== 'Date') return false
  }
  return true
}

/**
 * `json` with the string at each path of `values` made a Date, as superjson's
 * deserialize would: each path checked as {@link checkMeta} checks it (own keys and
 * in-range indices, no forbidden segment, a string at the end). A Date is a leaf, so no
 * path can pass through another's node.
 */
function withDates(json: unknown, values: Obj): unknown {
  for (const key of Object.keys(values)) {
    const path = parseKey(key)
    if (path.length > MAX_PATH) fail('path too long')
    const last = path.pop() as string
    const parent = resolve(json, path, undefined)
    const raw = step(parent, last)
    if (typeof raw !== 'string') fail('Date must be a string')
    ;(parent as Obj)[last] = new Date(raw as string)
  }
  return json
}

function refuseForbiddenKeys(root: unknown): void {
  const stack = [root]
  while (stack.length > 0) {
    const node = stack.pop()
    if (typeof node !== 'object' || node === null) continue
    if (Array.isArray(node)) {
      for (const item of node) if (typeof item === 'object' && item !== null) stack.push(item)
      continue
    }
    for (const key of Object.keys(node)) {
      if (FORBIDDEN.has(key)) fail(`forbidden key ${key}`)
      const item = (node as Obj)[key]
      if (typeof item === 'object' && item !== null) stack.push(item)
    }
  }
}

function checkMeta(meta: unknown, json: unknown): void {
  if (!isObj(meta) || meta.v !== 1) return fail('meta must be an object with v: 1')
  for (const key of Object.keys(meta)) if (key !== 'v' && key !== 'values' && key !== 'referentialEqualities') fail(`unknown meta key ${key}`)
  if (hasOwn.call(meta, 'values')) {
    const values = meta.values
    const marks: Marks = { annotated: new Set(), crossed: new Set() }
    if (Array.isArray(values)) checkNode(values, json, 0, 0, marks)
    else if (isObj(values)) checkChildren(values, json, 0, 0, false, marks)
    else fail('meta.values must be an array or an object')
  }
  if (hasOwn.call(meta, 'referentialEqualities')) {
    const refs = meta.referentialEqualities
    if (Array.isArray(refs)) {
      if (refs.length < 1 || refs.length > 2) fail('bad referentialEqualities')
      checkPathList(refs[0], json)
      if (refs.length === 2) checkRefMap(refs[1], json)
    } else checkRefMap(refs, json)
  }
}

function checkRefMap(refs: unknown, json: unknown): void {
  if (!isObj(refs)) return fail('referentialEqualities must be an object')
  for (const key of Object.keys(refs)) {
    resolve(json, parseKey(key), undefined)
    checkPathList(refs[key], json)
  }
}

function checkPathList(paths: unknown, json: unknown): void {
  if (!Array.isArray(paths)) return fail('referential paths must be an array')
  for (const path of paths) {
    if (typeof path !== 'string') fail('a referential path must be a string')
    resolve(json, parseKey(path as string), undefined)
  }
}

/**
 * JSON nodes that an annotation transforms, and JSON nodes that a path to an annotated
 * node passes through. A node in both would be transformed before (or after) the
 * annotations inside it meet it, which superjson never writes.
 */
interface Marks {
  annotated: Set<object>
  crossed: Set<object>
}

/** Checks `[type]` or `[type, children]` against `raw`, the JSON it will transform. */
function checkNode(node: unknown, raw: unknown, depth: number, pathLength: number, marks: Marks): void {
  if (!Array.isArray(node) || node.length < 1 || node.length > 2) return fail('an annotation must be [type] or [type, children]')
  const type: unknown = node[0]
  let container = false
  let isMap = false
  if (typeof type === 'string') {
    switch (type) {
      case 'undefined': if (raw !== null) fail('undefined must be null'); break
      case 'bigint': if (typeof raw !== 'string' || !BIGINT.test(raw)) fail('bad bigint'); break // BigInt() parsing is superlinear
      case 'Date': case 'URL': if (typeof raw !== 'string') fail(`${type} must be a string`); break
      case 'regexp': if (typeof raw !== 'string' || raw[0] !== '/') fail('bad regexp'); break
      case 'number': if (typeof raw !== 'string' || !SPECIAL_NUMBERS.has(raw)) fail('bad number'); break
      case 'set': if (!Array.isArray(raw)) fail('set must be an array'); container = true; break
      case 'map':
        if (!Array.isArray(raw) || !raw.every((e) => Array.isArray(e) && e.length === 2)) fail('map must be an array of pairs')
        container = isMap = true
        break
      case 'Error':
        // message and name are strings: the restore runs ToString on message, which
        // would call a registered class's own toString on attacker data.
        if (!isObj(raw) || !Object.keys(raw).every((k) => ERROR_KEYS.has(k) && (k === 'cause' || k === MARK || typeof raw[k] === 'string'))) fail('bad Error')
        container = true
        break
      default: fail(`unknown annotation ${type.slice(0, 40)}`)
    }
  } else if (Array.isArray(type) && type.length === 2 && typeof type[0] === 'string' && typeof type[1] === 'string') {
    const name: string = type[1]
    if (type[0] === 'class') {
      const guarded = guardedKeys.get(name)
      if (guarded === undefined) fail(`unregistered class ${name.slice(0, 40)}`)
      if (!isObj(raw) || Object.keys(raw).some((k) => (guarded as ReadonlySet<string>).has(k))) fail(`bad fields for class ${name}`)
      container = true
    } else if (type[0] === 'typed-array') {
      if (!TYPED_NAMES.has(name) || !Array.isArray(raw) || !raw.every((e) => e === null || typeof e === 'number')) fail('bad typed array')
    } else if (type[0] === 'custom') {
      if (!CUSTOM_NAMES.has(name) || !isCustom(name, raw)) fail('bad custom value')
    } else fail('unknown composite annotation')
  } else fail('bad annotation type')
  if (typeof raw === 'object' && raw !== null) {
    if (marks.crossed.has(raw) || marks.annotated.has(raw)) fail('annotation inside an annotated subtree')
    marks.annotated.add(raw)
  }
  if (node.length === 2) {
    if (!container) fail('children under a leaf annotation')
    if (!isObj(node[1])) fail('annotation children must be an object')
    checkChildren(node[1] as Obj, raw, depth + 1, pathLength, isMap, marks)
  }
}

/** Whether `raw` is what the custom transformer `name` writes. */
function isCustom(name: string, raw: unknown): boolean {
  if (name === 'Buffer') return typeof raw === 'string'
  if (name === 'InvalidDate') return raw === null
  return Array.isArray(raw) && raw.every((e) => typeof e === 'number' || (typeof e === 'string' && SPECIAL_NUMBERS.has(e)))
}

function checkChildren(children: Obj, raw: unknown, depth: number, pathLength: number, isMap: boolean, marks: Marks): void {
  if (depth > MAX_DEPTH) fail('annotations nested too deeply')
  for (const key of Object.keys(children)) {
    const path = parseKey(key)
    if (path.length + pathLength > MAX_PATH) fail('path too long')
    if (isMap && (path.length < 2 || (path[1] !== '0' && path[1] !== '1'))) fail('a map child must be row.0 or row.1')
    checkNode(children[key], resolve(raw, path, marks), depth + 1, pathLength + path.length, marks)
  }
}

/** superjson's escaped path syntax: `\\` and `\.` escapes, `.` separates segments. */
function parseKey(key: string): string[] {
  let path: string[]
  if (key.indexOf('\\') === -1) {
    // Not key.split('.'): that is four times slower in V8 for these short keys.
    path = []
    let start = 0
    for (let dot = key.indexOf('.'); dot !== -1; dot = key.indexOf('.', start)) {
      path.push(key.slice(start, dot))
      start = dot + 1
    }
    path.push(key.slice(start))
  } else {
    path = []
    let segment = ''
    for (let i = 0; i < key.length; i++) {
      const c = key[i] as string
      if (c === '\\') {
        const next = key[i + 1]
        if (next !== '\\' && next !== '.') fail('bad escape in path')
        segment += next as string
        i++
      } else if (c === '.') {
        path.push(segment)
        segment = ''
      } else segment += c
    }
    path.push(segment)
  }
  for (const s of path) if ((s.length === 9 || s.length === 11) && FORBIDDEN.has(s)) fail(`forbidden path segment ${s}`)
  return path
}

/**
 * The JSON node at `path`, through own keys and in-range indices only. With `marks`,
 * the nodes passed through (not the start, not the end) must not be annotated.
 */
function resolve(raw: unknown, path: readonly string[], marks: Marks | undefined): unknown {
  let node = raw
  for (let i = 0; i < path.length; i++) {
    const segment = path[i] as string
    if (i > 0 && marks !== undefined) {
      if (marks.annotated.has(node as object)) fail('annotation inside an annotated subtree')
      marks.crossed.add(node as object)
    }
    node = step(node, segment)
  }
  return node
}

/** The child of `node` at `segment`: an own key, or a canonical in-range index. */
function step(node: unknown, segment: string): unknown {
  if (Array.isArray(node)) {
    const index = toIndex(segment)
    if (index < 0 || index >= node.length) fail('path index out of range')
    return node[index]
  }
  if (isObj(node)) {
    if (!hasOwn.call(node, segment)) fail('path to a missing key')
    return node[segment]
  }
  return fail('path through a leaf')
}

/** A canonical array index (`0`, `17`, not `017` or `1e3`), or -1. */
function toIndex(segment: string): number {
  const n = segment.length
  if (n === 0 || n > 10 || (n > 1 && segment.charCodeAt(0) === 48)) return -1
  let value = 0
  for (let i = 0; i < n; i++) {
    const digit = segment.charCodeAt(i) - 48
    if (digit < 0 || digit > 9) return -1
    value = value * 10 + digit
  }
  return value
}
