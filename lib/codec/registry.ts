import { InvalidOptionError } from '../errors.ts'

/**
 * The class registry: the only way a value read from Redis becomes an instance of a
 * user class. Keys (`keys/arguments.ts`) and the value codec (`codec/`) both read it.
 */

/** A class whose instances memoredis may store and restore. */
// `never[]` parameters: every constructor, whatever its arguments, is assignable.
export type Class<T = object> = abstract new (...args: never[]) => T

/** Options of {@link registerClass}. */
export interface RegisterClassOptions {
  /**
   * The name under which instances are stored. Default: the class's own `name`.
   * Give one when two classes share a name or when a minifier renames classes.
   */
  name?: string
}

const byName = new Map<string, Class>()
const byClass = new Map<Class, string>()

/**
 * Registers a class so that its instances, stored by any process, come back as
 * instances of it (own enumerable properties restored, methods from the prototype).
 * The constructor is not called on restore. Registering the same class twice under the
 * same name is a no-op; another class under a taken name is an error.
 *
 * @example
 * class Person { constructor(public name: string, public age: number) {}
 *   toString() { return `${this.name} is ${this.age}` } }
 * registerClass(Person)
 */
export function registerClass(cls: Class, options: RegisterClassOptions = {}): void {
  if (typeof cls !== 'function' || typeof cls.prototype !== 'object' || cls.prototype === null) {
    throw new InvalidOptionError(`registerClass expects a class, got ${typeof cls}`)
  }
  const name = options.name ?? cls.name
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidOptionError('registerClass: the class has no name; pass { name }')
  }
  const taken = byName.get(name)
  if (taken !== undefined && taken !== cls) {
    throw new InvalidOptionError(`registerClass: the name ${name} is already registered for another class`)
  }
  const previous = byClass.get(cls)
  if (previous !== undefined && previous !== name) {
    throw new InvalidOptionError(`registerClass: ${cls.name} is already registered as ${previous}`)
  }
  byName.set(name, cls)
  byClass.set(cls, name)
  for (const listener of listeners) listener(cls, name)
}

/** The registered name of a value's class, or undefined when the class is not registered. */
export function registeredName(value: object): string | undefined {
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto === null || proto === Object.prototype) return undefined
  const ctor: unknown = (proto as { constructor?: unknown }).constructor
  return typeof ctor === 'function' ? byClass.get(ctor as Class) : undefined
}

type Listener = (cls: Class, name: string) => void
const listeners: Listener[] = []

/** Calls `listener` for every class registered so far and every one registered later. */
export function onRegister(listener: Listener): void {
  listeners.push(listener)
  for (const [cls, name] of byClass) listener(cls, name)
}
