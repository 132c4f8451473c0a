/**
 * The pickle example, without pickle's flaw: a class instance saved in Redis comes back
 * as an instance of its class, methods and all — and nothing read from Redis can run code.
 *
 * Shows: `registerClass(Person)`, a memoized `loadPerson` that returns a
 * `Person('John', 20)`, and a second cache (standing for another process: it has an L1
 * of its own) that reads the value back as a real `Person` whose `toString()` works,
 * with nested instances, Dates and Maps inside it.
 *
 * Run:        node --conditions=source --import tsx examples/person.ts
 * With Redis: REDIS_URL=redis://127.0.0.1:6379 node --conditions=source --import tsx examples/person.ts
 *
 * Without REDIS_URL there is no Redis to share through: both reads come from this
 * process's L1, and the second cache computes its own value.
 */
import { createCache, memoize, registerClass } from 'memoredis'

class Address {
  constructor(
    public city: string,
    public since: Date,
  ) {}
}

class Person {
  address?: Address
  friends = new Map<string, Person>()

  constructor(
    public name: string,
    public age: number,
  ) {}

  toString(): string {
    return `${this.name} is ${this.age} years old`
  }
}

// Every process registers the classes it stores. Only registered classes are rebuilt,
// and only their own data is restored: the constructor and methods come from this code.
registerClass(Person)
registerClass(Address)

const redis = process.env.REDIS_URL || undefined
console.log(redis === undefined ? 'cache: L1 only (set REDIS_URL to share through Redis)' : 'cache: L1 + Redis')

function cacheOfOneProcess() {
  return createCache({ redis, prefix: 'person-example' })
}

const runs = { first: 0, second: 0 }

function loaderIn(cache: ReturnType<typeof createCache>, who: 'first' | 'second') {
  return memoize(
    async (name: string, age: number): Promise<Person> => {
      runs[who]++
      const person = new Person(name, age)
      person.address = new Address('Lisbon', new Date('2019-05-01T00:00:00Z'))
      person.friends.set('mary', new Person('Mary', 31))
      return person
    },
    { cache, name: 'loadPerson', ttl: '1m' },
  )
}

const first = cacheOfOneProcess()
const second = cacheOfOneProcess()
const saveIn = loaderIn(first, 'first')
const readIn = loaderIn(second, 'second')
await saveIn.invalidate('John', 20) // Start clean, even if Redis has it from an earlier run.

const saved = await saveIn('John', 20)
console.log(`saved by the first cache: ${saved} (computed: ${runs.first === 1 ? 'yes' : 'no'})`)

const read = await readIn('John', 20)
const how = runs.second === 0 ? 'rebuilt from the bytes in Redis, not computed' : 'computed again: without Redis nothing is shared'
console.log(`read by the second cache: ${read} (${how})`)
console.log(`read instanceof Person: ${read instanceof Person}, a copy: ${read !== saved}`)
const mary = read.friends.get('mary')
console.log(`nested: ${mary} (instanceof Person: ${mary instanceof Person})`)
console.log(`address: ${read.address?.city} since ${read.address?.since.getUTCFullYear()} (instanceof Address: ${read.address instanceof Address})`)

await Promise.all([first.close(), second.close()])
