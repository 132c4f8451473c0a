import { fail, FORBIDDEN, MARK } from './marks.ts'
import { onRegister } from './registry.ts'

/*
 * What a superjson document read from Redis must be before superjson sees it: bytes that
 * may have been written by an attacker. The codec (`superjson.ts`) calls these checks;
 * superjson 2.2 alone already guards this much (read in node_modules/superjson/dist):
 * `getDeep`/`setDeep` refuse a path segment equal to `__proto__`, `constructor` or
 * `prototype`; the serializer refuses own keys with those names; classes are restored
 * with `Object.create(prototype)` (the constructor never runs); registries are Maps.
 *
 * What it does not, and the checks below add:
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

/** A JSON object of the document. */
export type Obj = Record<string, unknown>
/** Whether `v` is a JSON object (not null, not an array). */
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
/** `Object.prototype.hasOwnProperty`, to be called on JSON objects. */
export const hasOwn = Object.prototype.hasOwnProperty
/** Paths longer than this are refused (annotation trees deeper than `MAX_DEPTH` too). */
export const MAX_PATH = 10_000
const MAX_DEPTH = 512

const SPECIAL_NUMBERS = new Set(['NaN', 'Infinity', '-Infinity', '-0'])
const CUSTOM_NAMES = new Set(['Buffer', 'InvalidDate', 'Float32Array', 'Float64Array'])
const TYPED_NAMES = new Set([Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array].map((c) => c.name))
const ERROR_KEYS = new Set(['name', 'message', 'cause', MARK])
const BIGINT = /^-?\d{1,100000}$/

/** Per registered name: keys an own field may not take (setters, read-only, methods). */
const guardedKeys = new Map<string, ReadonlySet<string>>()

onRegister((cls, name) => {
  const keys = new Set<string>()
  for (let proto: object | null = cls.prototype as object; proto !== null; proto = Object.getPrototypeOf(proto) as object | null) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      const d = Object.getOwnPropertyDescriptor(proto, key)
      if (d !== undefined && (d.get !== undefined || d.set !== undefined || d.writable !== true || typeof d.value === 'function')) keys.add(key)
    }
  }
  guardedKeys.set(name, keys)
})

/** Refuses an own `__proto__`, `constructor` or `prototype` key anywhere in the parsed JSON. */
export function refuseForbiddenKeys(root: unknown): void {
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

/** Refuses `meta` unless each annotation and each referential path meets `json` as superjson writes them. */
export function checkMeta(meta: unknown, json: unknown): void {
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
export interface Marks {
  annotated: Set<object>
  crossed: Set<object>
}

/** What an annotation's type allows below it: children at all, and children of a Map's rows. */
interface Shape {
  container: boolean
  isMap: boolean
}

const LEAF: Shape = { container: false, isMap: false }
const CONTAINER: Shape = { container: true, isMap: false }
const MAP: Shape = { container: true, isMap: true }

/** Checks `[type]` or `[type, children]` against `raw`, the JSON it will transform. */
function checkNode(node: unknown, raw: unknown, depth: number, pathLength: number, marks: Marks): void {
  if (!Array.isArray(node) || node.length < 1 || node.length > 2) return fail('an annotation must be [type] or [type, children]')
  const type: unknown = node[0]
  let shape = LEAF
  if (typeof type === 'string') shape = checkSimple(type, raw)
  else if (Array.isArray(type) && type.length === 2 && typeof type[0] === 'string' && typeof type[1] === 'string') shape = checkComposite(type[0], type[1], raw)
  else fail('bad annotation type')
  if (typeof raw === 'object' && raw !== null) {
    if (marks.crossed.has(raw) || marks.annotated.has(raw)) fail('annotation inside an annotated subtree')
    marks.annotated.add(raw)
  }
  if (node.length === 2) {
    if (!shape.container) fail('children under a leaf annotation')
    if (!isObj(node[1])) fail('annotation children must be an object')
    checkChildren(node[1] as Obj, raw, depth + 1, pathLength, shape.isMap, marks)
  }
}

/** Checks a simple annotation (`'Date'`, `'map'`, ...) against the JSON it transforms. */
function checkSimple(type: string, raw: unknown): Shape {
  switch (type) {
    case 'undefined': if (raw !== null) fail('undefined must be null'); return LEAF
    case 'bigint': if (typeof raw !== 'string' || !BIGINT.test(raw)) fail('bad bigint'); return LEAF // BigInt() parsing is superlinear
    case 'Date': case 'URL': if (typeof raw !== 'string') fail(`${type} must be a string`); return LEAF
    case 'regexp': if (typeof raw !== 'string' || raw[0] !== '/') fail('bad regexp'); return LEAF
    case 'number': if (typeof raw !== 'string' || !SPECIAL_NUMBERS.has(raw)) fail('bad number'); return LEAF
    case 'set': if (!Array.isArray(raw)) fail('set must be an array'); return CONTAINER
    case 'map':
      if (!Array.isArray(raw) || !raw.every((e) => Array.isArray(e) && e.length === 2)) fail('map must be an array of pairs')
      return MAP
    case 'Error':
      // message and name are strings: the restore runs ToString on message, which
      // would call a registered class's own toString on attacker data.
      if (!isObj(raw) || !Object.keys(raw).every((k) => ERROR_KEYS.has(k) && (k === 'cause' || k === MARK || typeof raw[k] === 'string'))) fail('bad Error')
      return CONTAINER
    default: return fail(`unknown annotation ${type.slice(0, 40)}`)
  }
}

/** Checks a composite annotation (`['class', name]`, `['typed-array', name]`, `['custom', name]`). */
function checkComposite(kind: string, name: string, raw: unknown): Shape {
  if (kind === 'class') {
    const guarded = guardedKeys.get(name)
    if (guarded === undefined) fail(`unregistered class ${name.slice(0, 40)}`)
    if (!isObj(raw) || Object.keys(raw).some((k) => (guarded as ReadonlySet<string>).has(k))) fail(`bad fields for class ${name}`)
    return CONTAINER
  }
  if (kind === 'typed-array') {
    if (!TYPED_NAMES.has(name) || !Array.isArray(raw) || !raw.every((e) => e === null || typeof e === 'number')) fail('bad typed array')
  } else if (kind === 'custom') {
    if (!CUSTOM_NAMES.has(name) || !isCustom(name, raw)) fail('bad custom value')
  } else fail('unknown composite annotation')
  return LEAF
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
export function parseKey(key: string): string[] {
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
export function resolve(raw: unknown, path: readonly string[], marks: Marks | undefined): unknown {
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
export function step(node: unknown, segment: string): unknown {
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
