// The builtins every module expects that V8 10.2 lacks or that a database must
// control. Runs as a classic script before the module; each part is guarded so
// it does nothing where the engine already has it.

#include "modules/detail/instance_state.hpp"

namespace orrery {

const char* const polyfill_source = R"JS(
(function () {
  'use strict';
  const utf8Encode = globalThis.__orrery_utf8_encode;
  const utf8Decode = globalThis.__orrery_utf8_decode;
  delete globalThis.__orrery_utf8_encode;
  delete globalThis.__orrery_utf8_decode;

  if (typeof Symbol.dispose !== 'symbol')
    Object.defineProperty(Symbol, 'dispose', { value: Symbol.for('Symbol.dispose') });
  if (typeof Symbol.asyncDispose !== 'symbol')
    Object.defineProperty(Symbol, 'asyncDispose', { value: Symbol.for('Symbol.asyncDispose') });

  // ES2025 Set methods, for set-like arguments (size, has, keys).
  function setLike(other) {
    if (other === null || (typeof other !== 'object' && typeof other !== 'function'))
      throw new TypeError('expected a set-like object');
    const size = Number(other.size);
    if (Number.isNaN(size)) throw new TypeError('set-like object has no numeric size');
    if (typeof other.has !== 'function') throw new TypeError('set-like object has no has()');
    if (typeof other.keys !== 'function') throw new TypeError('set-like object has no keys()');
    return other;
  }
  const setMethods = {
    isSubsetOf(other) {
      setLike(other);
      if (this.size > other.size) return false;
      for (const v of this) if (!other.has(v)) return false;
      return true;
    },
    isSupersetOf(other) {
      setLike(other);
      if (this.size < other.size) return false;
      for (const v of other.keys()) if (!this.has(v)) return false;
      return true;
    },
    isDisjointFrom(other) {
      setLike(other);
      for (const v of this) if (other.has(v)) return false;
      return true;
    },
    union(other) {
      setLike(other);
      const out = new Set(this);
      for (const v of other.keys()) out.add(v);
      return out;
    },
    intersection(other) {
      setLike(other);
      const out = new Set();
      for (const v of this) if (other.has(v)) out.add(v);
      return out;
    },
    difference(other) {
      setLike(other);
      const out = new Set(this);
      for (const v of this) if (other.has(v)) out.delete(v);
      return out;
    },
    symmetricDifference(other) {
      setLike(other);
      const out = new Set(this);
      for (const v of other.keys()) {
        if (this.has(v)) out.delete(v);
        else out.add(v);
      }
      return out;
    },
  };
  for (const [name, fn] of Object.entries(setMethods))
    if (typeof Set.prototype[name] !== 'function')
      Object.defineProperty(Set.prototype, name, { value: fn, writable: true, configurable: true });

  if (typeof globalThis.TextEncoder !== 'function') {
    class TextEncoder {
      get encoding() { return 'utf-8'; }
      encode(input = '') { return utf8Encode(String(input)); }
      encodeInto(input, dest) {
        const bytes = utf8Encode(String(input));
        const n = Math.min(bytes.length, dest.length);
        dest.set(bytes.subarray(0, n));
        return { read: String(input).length, written: n };
      }
    }
    class TextDecoder {
      constructor(label = 'utf-8') {
        const l = String(label).toLowerCase();
        if (l !== 'utf-8' && l !== 'utf8' && l !== 'unicode-1-1-utf-8')
          throw new RangeError(`TextDecoder supports only utf-8, not ${label}`);
      }
      get encoding() { return 'utf-8'; }
      decode(input) { return input === undefined ? '' : utf8Decode(input); }
    }
    Object.defineProperty(globalThis, 'TextEncoder', { value: TextEncoder, writable: true, configurable: true });
    Object.defineProperty(globalThis, 'TextDecoder', { value: TextDecoder, writable: true, configurable: true });
  }

  // Reducers must be deterministic: randomness comes from ctx.random.
  Object.defineProperty(Math, 'random', {
    get() { throw new TypeError('Math.random is not available in a module; use ctx.random() instead'); },
    configurable: false,
  });
})();
)JS";

} // namespace orrery
