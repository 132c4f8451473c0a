import { DecodeError, EncodeError, UnregisteredClassError } from '../errors.ts'
import { registeredName } from './registry.ts'

/*
 * What superjson cannot carry exactly, and how the default codec carries it or refuses it.
 * Every value either comes back exactly (same types, prototypes, keys and numbers) or is
 * refused with an `EncodeError` before anything is stored.
 *
 * Refused: a function or a symbol anywhere below the root, an own enumerable
 * symbol-keyed property (JSON has neither), an array with holes (JSON has no holes), an
 * own field named `__proto__`, `constructor` or `prototype` on an instance of a
 * registered class (restoring one assigns its fields), and an object reached twice (a
 * shared reference or a cycle) along a path through a class instance or an Error
 * (superjson restores shared references only through plain objects, arrays, Maps and
 * Sets).
 *
 * Marked: superjson writes a plain object's `__proto__`, `constructor` and `prototype`
 * keys not at all (it throws), a null-prototype object as a plain one, and an Error with
 * only its name, message and cause (restored with an own `cause` always, as an `Error`
 * whatever its class, its other fields lost). A value holding any of these is written
 * from a copy in which
 * - such a key, and any key that starts with MARK, gets MARK in front of it,
 * - a null-prototype object gets the key MARK (alone, which no escaped key is) = 0,
 * - an Error gets the field MARK = [its built-in class, flags, [key, value] pairs of its
 *   other own enumerable fields]: flag 1 = it had a cause, flag 2 = an own name,
 * and the document gets the top-level key `"mr": 1` (older readers refuse such a
 * document rather than misread it). Reading one, `restoreMarks` walks the restored value
 * and undoes each mark in place: keys are defined with `Object.defineProperty` (an own
 * data property, whatever its name: nothing reaches a prototype), the null prototype
 * set, the Error given its class's prototype and its fields back.
 *
 * Values of JSON data and Dates never take this path (`plain-superjson.ts` writes them);
 * neither do values that need no mark (superjson writes them as before).
 */

/** The escape character of marked keys: U+0001, written `\u0001` in JSON. */
export const MARK = '\u0001'
const MARK_CODE = 1

/** The built-in Error classes whose instances come back as themselves. */
const ERRORS = new Map<string, ErrorConstructor>(
  [Error, TypeError, RangeError, ReferenceError, SyntaxError, EvalError, URIError].map((c) => [c.name, c as ErrorConstructor]),
)
const ERROR_PROTOS = new Set<object>([...ERRORS.values()].map((c) => c.prototype))
const ERROR_OWN = new Set(['name', 'message', 'cause', 'stack'])
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype'])
const TYPED_ARRAYS = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array]
const LEAF_PROTOS = new Set<object>([Date.prototype, RegExp.prototype, URL.prototype, Buffer.prototype, ...TYPED_ARRAYS.map((c) => c.prototype)])
const hasOwn = Object.prototype.hasOwnProperty
const isEnumerable = Object.prototype.propertyIsEnumerable

type Obj = Record<string, unknown>

/** A value ready for superjson: `marked` when it is a copy carrying marks (write `"mr": 1`). */
export interface Prepared {
  value: unknown
  marked: boolean
}

/**
 * Checks a value about to be encoded with superjson, in one walk: refuses what cannot
 * come back (`EncodeError`, see above), finds instances of unregistered classes
 * (`strict`: `UnregisteredClassError`; otherwise `warn(name)`, and the copy stores each
 * as a plain object of its own enumerable fields, or as its built-in base: subclasses of
 * Array, Map, Set, Date, RegExp, URL, typed arrays and Error), and what needs a mark.
 * Only when something must change is the value copied (shared references and cycles
 * kept); otherwise it is returned as it is.
 */
export function prepareValue(value: unknown, strict: boolean, warn: (className: string) => void): Prepared {
  if (typeof value !== 'object' || value === null) return { value, marked: false }
  const walk = new Walk(value)
  let unregistered = false
  let marked = false
  for (let next = walk.next(); next !== undefined; next = walk.next()) {
    const { obj, under } = next
    let kind = kindOf(obj)
    if (kind === 'unregistered') {
      const name = className(obj)
      if (strict) throw new UnregisteredClassError(name)
      warn(name)
      unregistered = true
      kind = baseKind(obj)
    }
    if (kind !== 'leaf') refuseSymbolKeys(obj)
    const registered = kind === 'fields' && registeredName(obj) !== undefined
    // superjson restores a shared reference only along paths of plain objects, arrays, Maps and Sets.
    const opaque = under || registered || kind === 'error'
    switch (kind) {
      case 'fields':
      case 'plain':
        marked = checkFields(obj, registered) || marked
        for (const key of Object.keys(obj)) walk.push((obj as Obj)[key], opaque)
        break
      case 'array':
        refuseHoles(obj as unknown[])
        for (const item of obj as unknown[]) walk.push(item, opaque)
        break
      case 'set':
        for (const item of obj as Set<unknown>) walk.push(item, opaque)
        break
      case 'map':
        for (const [k, v] of obj as Map<unknown, unknown>) walk.push(k, opaque).push(v, opaque)
        break
      case 'error':
        marked = true
        for (const key of Object.keys(obj)) walk.push((obj as Obj)[key], opaque)
        walk.push((obj as Error).cause, opaque)
    }
  }
  walk.refuseSharedUnderOpaque()
  return unregistered || marked ? { value: copy(value, { memo: new Map(), marks: marked }), marked } : { value, marked }
}

/**
 * Every object of a value once, depth first, with whether the path it was first reached
 * by passes through a registered class instance or an Error (`under`); and which
 * objects are reached more than once (shared, or in a cycle).
 */
class Walk {
  private readonly reached = new Set<object>()
  private readonly shared = new Set<object>()
  private readonly underOpaque = new Set<object>()
  private readonly stack: { obj: object; under: boolean }[] = []

  constructor(root: object) {
    this.reached.add(root)
    this.stack.push({ obj: root, under: false })
  }

  next(): { obj: object; under: boolean } | undefined {
    return this.stack.pop()
  }

  push(value: unknown, under: boolean): this {
    if (typeof value === 'function' || typeof value === 'symbol') {
      throw new EncodeError(`the value holds a ${typeof value}, which JSON cannot hold (it would be dropped or null): it is not stored`)
    }
    if (typeof value !== 'object' || value === null) return this
    if (under) this.underOpaque.add(value)
    if (this.reached.has(value)) this.shared.add(value)
    else {
      this.reached.add(value)
      this.stack.push({ obj: value, under })
    }
    return this
  }

  /** superjson would lose these: a shared reference or a cycle reached through a class instance or an Error. */
  refuseSharedUnderOpaque(): void {
    for (const obj of this.underOpaque) {
      if (this.shared.has(obj)) {
        throw new EncodeError('the value holds an object reached twice (shared, or a cycle) through a class instance or an Error, which would come back as two objects or null: it is not stored')
      }
    }
  }
}

/** Whether a plain object needs a mark; a registered class instance with a forbidden field is refused. */
function checkFields(obj: object, registered: boolean): boolean {
  let forbidden = false
  for (const key of Object.keys(obj)) if (FORBIDDEN.has(key)) forbidden = true
  if (forbidden && registered) {
    throw new EncodeError(`an instance of ${className(obj)} has an own field named __proto__, constructor or prototype, which restoring it would assign: it is not stored`)
  }
  return forbidden || Object.getPrototypeOf(obj) === null
}

function refuseSymbolKeys(obj: object): void {
  for (const symbol of Object.getOwnPropertySymbols(obj)) {
    if (isEnumerable.call(obj, symbol)) {
      throw new EncodeError(`the value has a property keyed by ${String(symbol)}, which JSON cannot hold: it is not stored (use a string key)`)
    }
  }
}

function refuseHoles(array: unknown[]): void {
  for (let i = 0; i < array.length; i++) {
    if (!(i in array)) throw new EncodeError(`the value has an array with a hole at index ${i}, which would come back as undefined: it is not stored`)
  }
}

type Kind = 'fields' | 'array' | 'map' | 'set' | 'error' | 'leaf' | 'unregistered' | 'plain'

function kindOf(obj: object): Kind {
  const proto = Object.getPrototypeOf(obj) as object | null
  if (proto === Object.prototype || proto === null) return 'fields'
  if (proto === Array.prototype) return 'array'
  if (proto === Map.prototype) return 'map'
  if (proto === Set.prototype) return 'set'
  if (LEAF_PROTOS.has(proto)) return 'leaf'
  if (registeredName(obj) !== undefined) return 'fields'
  if (ERROR_PROTOS.has(proto)) return 'error'
  return 'unregistered'
}

/** How an instance of an unregistered class is stored; 'plain' = as a plain object of its own enumerable fields. */
function baseKind(obj: object): Kind {
  if (Array.isArray(obj)) return 'array'
  if (obj instanceof Map) return 'map'
  if (obj instanceof Set) return 'set'
  if (obj instanceof Error) return 'error'
  if (obj instanceof Date || obj instanceof RegExp || obj instanceof URL) return 'leaf'
  return 'plain'
}

function className(obj: object): string {
  const ctor: unknown = (Object.getPrototypeOf(obj) as { constructor?: unknown } | null)?.constructor
  return typeof ctor === 'function' && ctor.name !== '' ? ctor.name : 'anonymous'
}

/** The built-in Error class an Error is, or extends. */
function errorClass(error: Error): string {
  for (let proto = Object.getPrototypeOf(error) as object | null; proto !== null; proto = Object.getPrototypeOf(proto) as object | null) {
    if (ERROR_PROTOS.has(proto)) return (proto as { name: string }).name
  }
  return 'Error'
}

interface Copying {
  memo: Map<object, unknown>
  /** Write marks (see the top of this file). */
  marks: boolean
}

/** A deep copy in which unregistered class instances are their base type, and, with `marks`, marked. */
function copy(value: unknown, c: Copying): unknown {
  if (typeof value !== 'object' || value === null) return value
  if (c.memo.has(value)) return c.memo.get(value)
  let kind = kindOf(value)
  if (kind === 'unregistered') kind = baseKind(value)
  switch (kind) {
    case 'leaf':
      return value
    case 'array': {
      const out: unknown[] = []
      c.memo.set(value, out)
      for (const item of value as unknown[]) out.push(copy(item, c))
      return out
    }
    case 'map': {
      const out = new Map<unknown, unknown>()
      c.memo.set(value, out)
      for (const [k, v] of value as Map<unknown, unknown>) out.set(copy(k, c), copy(v, c))
      return out
    }
    case 'set': {
      const out = new Set<unknown>()
      c.memo.set(value, out)
      for (const item of value as Set<unknown>) out.add(copy(item, c))
      return out
    }
    case 'error':
      return copyError(value as Error, c)
    default: {
      const typed = TYPED_ARRAYS.find((t) => value instanceof t)
      if (kind === 'plain' && typed !== undefined) return new typed(value as unknown as ArrayLike<number>)
      const proto = Object.getPrototypeOf(value) as object | null
      const plain = kind === 'plain' || proto === null || proto === Object.prototype
      const out = Object.create(plain ? Object.prototype : proto) as object
      c.memo.set(value, out)
      const escape = c.marks && plain
      for (const key of Object.keys(value)) define(out, escape ? escapeKey(key) : key, copy((value as Obj)[key], c))
      if (escape && proto === null) define(out, MARK, 0)
      return out
    }
  }
}

function copyError(error: Error, c: Copying): Error {
  const out = new Error(error.message)
  out.name = error.name
  c.memo.set(error, out)
  if ('cause' in error) define(out, 'cause', copy(error.cause, c))
  // An Error always sets `marked`, so its copy always carries the mark.
  const fields: [string, unknown][] = []
  for (const key of Object.keys(error)) if (!ERROR_OWN.has(key)) fields.push([key, copy((error as unknown as Obj)[key], c)])
  const flags = ('cause' in error ? 1 : 0) | (hasOwn.call(error, 'name') ? 2 : 0)
  define(out, MARK, [errorClass(error), flags, fields])
  return out
}

const escapeKey = (key: string): string => (FORBIDDEN.has(key) || key.charCodeAt(0) === MARK_CODE ? MARK + key : key)

function define(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true })
}

const fail = (why: string): never => {
  throw new DecodeError(`hostile or corrupt superjson payload: ${why}`)
}

/**
 * Undoes the marks of a document written with `"mr": 1`, in place, over the value
 * superjson restored: plain objects with a marked key, and Errors with a MARK field.
 * Anything a mark could not have come from is a `DecodeError`.
 */
export function restoreMarks(root: unknown): unknown {
  const seen = new Set<object>()
  const stack: unknown[] = [root]
  while (stack.length > 0) {
    const node = stack.pop()
    if (typeof node !== 'object' || node === null || seen.has(node)) continue
    seen.add(node)
    const proto = Object.getPrototypeOf(node) as object | null
    if (Array.isArray(node)) for (const item of node as unknown[]) stack.push(item)
    else if (node instanceof Map) for (const [k, v] of node) stack.push(k, v)
    else if (node instanceof Set) for (const item of node) stack.push(item)
    else if (node instanceof Error) restoreError(node, stack)
    else if (proto === Object.prototype) restoreObject(node as Obj, stack)
    else if (registeredName(node) !== undefined) for (const key of Object.keys(node)) stack.push((node as Obj)[key])
  }
  return root
}

/** Defines the object's keys again, in their order, unescaped; the key MARK alone makes its prototype null. */
function restoreObject(node: Obj, stack: unknown[]): void {
  const keys = Object.keys(node)
  let marked = false
  for (const key of keys) {
    stack.push(node[key])
    if (key.charCodeAt(0) === MARK_CODE) marked = true
  }
  if (!marked) return
  const values = keys.map((key) => node[key])
  for (const key of keys) delete node[key]
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string
    if (key === MARK) {
      if (values[i] !== 0) fail('bad null-prototype mark')
      Object.setPrototypeOf(node, null)
      continue
    }
    const name = key.charCodeAt(0) === MARK_CODE ? key.slice(1) : key
    if (name !== key && !FORBIDDEN.has(name) && name.charCodeAt(0) !== MARK_CODE) fail('bad escaped key')
    define(node, name, values[i])
  }
}

/** Gives a marked Error its built-in class's prototype, its other fields, and no cause or own name it did not have. */
function restoreError(error: Error, stack: unknown[]): void {
  if (hasOwn.call(error, 'cause')) stack.push(error.cause)
  if (!hasOwn.call(error, MARK)) return
  const mark = (error as unknown as Obj)[MARK]
  delete (error as unknown as Obj)[MARK]
  if (!Array.isArray(mark) || mark.length !== 3 || !Array.isArray(mark[2])) return fail('bad Error mark')
  const [name, flags, fields] = mark as [unknown, unknown, unknown[]]
  const cls = typeof name === 'string' ? ERRORS.get(name) : undefined
  if (cls === undefined || typeof flags !== 'number' || !Number.isInteger(flags) || flags < 0 || flags > 3) return fail('bad Error mark')
  if (cls !== Error) Object.setPrototypeOf(error, cls.prototype)
  if (!(flags & 1)) delete error.cause
  if (!(flags & 2)) delete (error as { name?: string }).name
  for (const field of fields) {
    if (!Array.isArray(field) || field.length !== 2 || typeof field[0] !== 'string' || ERROR_OWN.has(field[0])) return fail('bad Error field')
    const [key, value] = field as [string, unknown]
    define(error, key, value)
    stack.push(value)
  }
}
