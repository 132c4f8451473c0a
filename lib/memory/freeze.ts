/**
 * Deep-freezing of values as they enter L1 (`l1: { freeze: true }`). L1 hands every
 * caller the very object it holds; frozen, a caller's mutation throws instead of
 * changing what every later caller gets.
 *
 * What is frozen is the plain data tree: plain objects (prototype `Object.prototype` or
 * null), arrays, Maps and Sets, and the plain data they hold (own property values,
 * array elements, Map keys and values, Set members). A Map or Set also refuses `set` /
 * `add`, `delete` and `clear` with a TypeError (own methods that shadow its prototype's).
 * Freezing stops at anything else: a Date, a Buffer or typed array, a RegExp, an
 * instance of any class (registered or not, and subclasses of Array, Map and Set) is
 * left as it is, and so is everything it holds, plain or not: a class's own methods may
 * keep their state up to date. Cycles and shared parts are frozen once. Getters are not
 * called.
 */

type Kind = 'object' | 'array' | 'Map' | 'Set'

/** What kind of plain data `value` is, or undefined when freezing leaves it (and what it holds) alone. */
function kindOf(value: unknown): Kind | undefined {
  if (value === null || typeof value !== 'object') return undefined
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto === Object.prototype || proto === null) return 'object'
  if (proto === Array.prototype) return 'array'
  if (proto === Map.prototype) return 'Map'
  if (proto === Set.prototype) return 'Set'
  return undefined
}

function refuse(kind: 'Map' | 'Set', method: string): PropertyDescriptor {
  return {
    value: () => {
      throw new TypeError(`Cannot ${method} on a frozen ${kind}: values in L1 are frozen (l1.freeze); copy it first, e.g. new ${kind}(value)`)
    },
  }
}

/** Own methods that shadow those of a frozen Map or Set that would change it; made once, shared. */
const REFUSALS = {
  Map: { set: refuse('Map', 'set'), delete: refuse('Map', 'delete'), clear: refuse('Map', 'clear') },
  Set: { add: refuse('Set', 'add'), delete: refuse('Set', 'delete'), clear: refuse('Set', 'clear') },
} as const

/** Makes `set`/`add`, `delete` and `clear` throw; not possible on a collection frozen elsewhere before. */
function sealCollection(collection: Map<unknown, unknown> | Set<unknown>, kind: 'Map' | 'Set'): void {
  if (Object.isExtensible(collection)) Object.defineProperties(collection, REFUSALS[kind])
}

/** Pushes the values `node` holds onto `stack`. */
function children(node: object, kind: Kind, stack: unknown[]): void {
  switch (kind) {
    case 'array': {
      const array = node as unknown[]
      for (let i = 0; i < array.length; i++) stack.push(array[i])
      return
    }
    case 'object':
      for (const key of Reflect.ownKeys(node)) {
        const descriptor = Object.getOwnPropertyDescriptor(node, key)
        if (descriptor !== undefined && 'value' in descriptor) stack.push(descriptor.value)
      }
      return
    case 'Map':
      for (const [key, value] of node as Map<unknown, unknown>) stack.push(key, value)
      return
    case 'Set':
      for (const member of node as Set<unknown>) stack.push(member)
      return
  }
}

/**
 * Deep-freezes the plain data in `value`, in place (see the module's description), and
 * returns it. Iterative: neither deep nor cyclic values can overflow the stack or hang.
 */
export function deepFreeze<T>(value: T): T {
  if (kindOf(value) === undefined) return value
  const seen = new Set<object>()
  const stack: unknown[] = [value]
  while (stack.length > 0) {
    const node = stack.pop()
    const kind = kindOf(node)
    if (kind === undefined || seen.has(node as object)) continue
    seen.add(node as object)
    children(node as object, kind, stack)
    if (kind === 'Map' || kind === 'Set') sealCollection(node as Map<unknown, unknown> | Set<unknown>, kind)
    Object.freeze(node)
  }
  return value
}
