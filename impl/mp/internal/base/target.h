// mp/internal/base/target.h — naming code by where it lives, so a freshly executed
// copy of the same program (spawn, forkserver) can find it without any
// registration.
//
// A location is the loaded object that contains the address (the main program
// or a shared library, by name) and the offset from that object's load bias.
// The child re-executes the same file, so the same object holds the same code
// at the same offset whatever address-space layout it gets.

#ifndef MP_INTERNAL_BASE_TARGET_H_
#define MP_INTERNAL_BASE_TARGET_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>
#include <type_traits>

#include "mp/reduction.h"

namespace mp::internal {

struct CodeLocation {
  std::string object;  // "" for the main program
  uint64_t offset = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(object, offset);
  }
};

// Throws mp::PicklingError when `address` is not inside a loaded object.
CodeLocation locate_code(const void* address);
// Throws mp::PicklingError when the object is not loaded in this process.
const void* resolve_code(const CodeLocation& location);

// Calls the function at `target` with arguments decoded from `args`.
using Trampoline = void (*)(const void* target, Reader& args);

// What a plain function pointer takes and gives: the one function-traits
// template (Process, Pool, executors and proxies read it).
template <class Fn>
struct function_traits;
template <class R, class... P>
struct function_traits<R (*)(P...)> {
  using result = std::decay_t<R>;
  using args = std::tuple<std::decay_t<P>...>;  // as stored and sent
  static constexpr size_t arity = sizeof...(P);
};
template <class R, class... P>
struct function_traits<R (*)(P...) noexcept> : function_traits<R (*)(P...)> {};

// F is a function, a function pointer, or a lambda without captures: something
// that converts to a plain function pointer and so can be named by location.
template <class F>
concept FunctionPointerLike = requires(F f) {
  requires std::is_pointer_v<decltype(+f)>;
  requires std::is_function_v<std::remove_pointer_t<decltype(+f)>>;
};

template <class Tuple>
inline constexpr bool tuple_transferable = false;
template <class... T>
inline constexpr bool tuple_transferable<std::tuple<T...>> = (Transferable<T> && ...);

// Decodes a tuple's elements in order (braces fix the order).
template <class Tuple>
Tuple decode_tuple(Reader& r) {
  return [&r]<size_t... I>(std::index_sequence<I...>) {
    return Tuple{Codec<std::tuple_element_t<I, Tuple>>::decode(r)...};
  }(std::make_index_sequence<std::tuple_size_v<Tuple>>());
}

template <class Fn, class Tuple>
void trampoline(const void* target, Reader& r) {
  auto fn = reinterpret_cast<Fn>(const_cast<void*>(target));
  std::apply(fn, decode_tuple<Tuple>(r));
}

template <class Tuple>
void encode_tuple(Writer& w, const Tuple& args) {
  std::apply(
      [&w](const auto&... items) {
        (Codec<std::remove_cvref_t<decltype(items)>>::encode(w, items), ...);
      },
      args);
}

}  // namespace mp::internal

#endif  // MP_INTERNAL_BASE_TARGET_H_
