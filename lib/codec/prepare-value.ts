import { EncodeError, UnregisteredClassError } from '../errors.ts'
import { define, ERROR_OWN, ERROR_PROTOS, FORBIDDEN, markedKey, markError, markNullPrototype } from './marks.ts'
import { registeredName } from './registry.ts'

/*
 * A value about to be written by superjson, checked in one walk and copied only when
 * something must change. Every value either comes back exactly (same types, prototypes,
 * keys and numbers) or is refused with an `EncodeError` before anything is stored.
 *
 * Refused: a function or a symbol anywhere below the root, an own enumerable
 * symbol-keyed property (JSON has neither), an array with holes (JSON has no holes), an
 * own field named `__proto__`, `constructor` or `prototype` on an instance of a
 * registered class (restoring one assigns its fields), and an object reached twice (a
 * shared reference or a cycle) along a path through a class instance or an Error
 * (superjson restores shared references only through plain objects, arrays, Maps and
 * Sets).
 *
 * Copied with marks: what superjson alone would change (see `marks.ts`). Copied as their
 * base: instances of unregistered classes, when `strictClasses` is off.
 *
 * Values of JSON data and Dates never come here (`plain-superjson.ts` writes them).
 */

const TYPED_ARRAYS = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array]
const LEAF_PROTOS = new Set<object>([Date.prototype, RegExp.prototype, URL.prototype, Buffer.prototype, ...TYPED_ARRAYS.map((c) => c.prototype)])
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
    marked = visit(walk, obj, kind, under) || marked
  }
  walk.refuseSharedUnderOpaque()
  return unregistered || marked ? { value: copy(value, { memo: new Map(), marks: marked }), marked } : { value, marked }
}

/** Checks one object of the walk and pushes its children; returns whether it needs a mark. */
function visit(walk: Walk, obj: object, kind: Kind, under: boolean): boolean {
  if (kind !== 'leaf') refuseSymbolKeys(obj)
  const registered = kind === 'fields' && registeredName(obj) !== undefined
  // superjson restores a shared reference only along paths of plain objects, arrays, Maps and Sets.
  const opaque = under || registered || kind === 'error'
  switch (kind) {
    case 'fields':
    case 'plain': {
      const marked = checkFields(obj, registered)
      for (const key of Object.keys(obj)) walk.push((obj as Obj)[key], opaque)
      return marked
    }
    case 'array':
      refuseHoles(obj as unknown[])
      for (const item of obj as unknown[]) walk.push(item, opaque)
      return false
    case 'set':
      for (const item of obj as Set<unknown>) walk.push(item, opaque)
      return false
    case 'map':
      for (const [k, v] of obj as Map<unknown, unknown>) walk.push(k, opaque).push(v, opaque)
      return false
    case 'error':
      for (const key of Object.keys(obj)) walk.push((obj as Obj)[key], opaque)
      walk.push((obj as Error).cause, opaque)
      return true
    default:
      return false
  }
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

interface Copying {
  memo: Map<object, unknown>
  /** Write marks (see `marks.ts`). */
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
    default:
      return copyFields(value, kind, c)
  }
}

/** The copy of a plain object, a registered class instance, or an unregistered one kept as plain data. */
function copyFields(value: object, kind: Kind, c: Copying): unknown {
  const typed = TYPED_ARRAYS.find((t) => value instanceof t)
  if (kind === 'plain' && typed !== undefined) return new typed(value as unknown as ArrayLike<number>)
  const proto = Object.getPrototypeOf(value) as object | null
  const plain = kind === 'plain' || proto === null || proto === Object.prototype
  const out = Object.create(plain ? Object.prototype : proto) as object
  c.memo.set(value, out)
  const escape = c.marks && plain
  for (const key of Object.keys(value)) define(out, escape ? markedKey(key) : key, copy((value as Obj)[key], c))
  if (escape && proto === null) markNullPrototype(out)
  return out
}

function copyError(error: Error, c: Copying): Error {
  const out = new Error(error.message)
  out.name = error.name
  c.memo.set(error, out)
  if ('cause' in error) define(out, 'cause', copy(error.cause, c))
  // An Error always sets `marked`, so its copy always carries the mark.
  const fields: [string, unknown][] = []
  for (const key of Object.keys(error)) if (!ERROR_OWN.has(key)) fields.push([key, copy((error as unknown as Obj)[key], c)])
  markError(out, error, fields)
  return out
}
