import { DecodeError } from '../errors.ts'
import { registeredName } from './registry.ts'

/*
 * Marks: what superjson alone would change in a value, and how the default codec carries
 * it exactly. superjson writes a plain object's `__proto__`, `constructor` and
 * `prototype` keys not at all (it throws), a null-prototype object as a plain one, and an
 * Error with only its name, message and cause (restored with an own `cause` always, as
 * an `Error` whatever its class, its other fields lost). A value holding any of these is
 * written from a copy (`prepare-value.ts`) in which
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
 * Values that need no mark never carry one (superjson or `plain-superjson.ts` writes them).
 */

/** The escape character of marked keys: U+0001, written `\u0001` in JSON. */
export const MARK = '\u0001'
const MARK_CODE = 1

/** The built-in Error classes whose instances come back as themselves. */
const ERRORS = new Map<string, ErrorConstructor>(
  [Error, TypeError, RangeError, ReferenceError, SyntaxError, EvalError, URIError].map((c) => [c.name, c as ErrorConstructor]),
)
/** The prototypes of the built-in Error classes. */
export const ERROR_PROTOS = new Set<object>([...ERRORS.values()].map((c) => c.prototype))
/** An Error's fields that superjson carries itself (or that are not kept): never in its mark. */
export const ERROR_OWN = new Set(['name', 'message', 'cause', 'stack'])
/** The keys superjson refuses to write and its restore would assign through. */
export const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype'])
const hasOwn = Object.prototype.hasOwnProperty

type Obj = Record<string, unknown>

/** A key of a plain object, escaped: MARK in front of a forbidden key and of one that starts with MARK. */
export const markedKey = (key: string): string => (FORBIDDEN.has(key) || key.charCodeAt(0) === MARK_CODE ? MARK + key : key)

/** Marks a copy of a null-prototype object (the key MARK alone, = 0). */
export function markNullPrototype(out: object): void {
  define(out, MARK, 0)
}

/** Marks `out`, the copy of `error`, with its built-in class, flags and `fields` (its other own enumerable fields, copied). */
export function markError(out: Error, error: Error, fields: [string, unknown][]): void {
  const flags = ('cause' in error ? 1 : 0) | (hasOwn.call(error, 'name') ? 2 : 0)
  define(out, MARK, [errorClass(error), flags, fields])
}

/** The built-in Error class an Error is, or extends. */
function errorClass(error: Error): string {
  for (let proto = Object.getPrototypeOf(error) as object | null; proto !== null; proto = Object.getPrototypeOf(proto) as object | null) {
    if (ERROR_PROTOS.has(proto)) return (proto as { name: string }).name
  }
  return 'Error'
}

/** Defines an own, enumerable, writable data property, whatever its name. */
export function define(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true })
}

/** Throws the `DecodeError` of a document that no honest writer made. */
export const fail = (why: string): never => {
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
