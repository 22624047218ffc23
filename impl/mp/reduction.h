// mp/reduction.h — how a value crosses a process boundary (Python: reduction.py,
// i.e. pickling).
//
// mp::Codec<T> is the customization point. Built in:
//   - trivially copyable types (copied byte for byte; raw pointers excluded),
//   - std::string, std::vector, std::array, std::deque, std::list, std::map,
//     std::unordered_map, std::set, std::unordered_set, std::pair, std::tuple,
//     std::optional, std::variant, std::monostate,
//   - user types with a cereal-style member
//       template <class Archive> void serialize(Archive& ar) { ar(a, b, c); }
//     (they must be default-constructible),
//   - mp's own primitives, which travel as handles (a file descriptor rides
//     along with the bytes).
// Specialize mp::Codec<T> with static `encode(Writer&, const T&)` and
// `T decode(Reader&)` for anything else.
//
// Under the fork start method nothing is encoded: the child gets a copy of the
// parent's memory. Under spawn and forkserver every argument goes through its
// Codec; a type without one makes Process::start() throw mp::PicklingError.

#ifndef MP_REDUCTION_H_
#define MP_REDUCTION_H_

#include <array>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "mp/errors.h"
#include "mp/internal/base/fd.h"

namespace mp {

// Bytes being encoded, and the file descriptors that travel with them. The
// descriptors are borrowed: they must stay open until the message is sent.
class Writer {
 public:
  void write(const void* data, size_t size) { bytes_.append(static_cast<const char*>(data), size); }
  template <class T>
  void write_pod(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    write(&value, sizeof(T));
  }
  // Attaches a descriptor; returns its index for Reader::take_fd().
  uint32_t add_fd(int fd) {
    fds_.push_back(fd);
    return static_cast<uint32_t>(fds_.size() - 1);
  }
  const std::string& bytes() const noexcept { return bytes_; }
  std::string& bytes() noexcept { return bytes_; }
  const std::vector<int>& fds() const noexcept { return fds_; }
  void clear() noexcept {
    bytes_.clear();
    fds_.clear();
  }

 private:
  std::string bytes_;
  std::vector<int> fds_;
};

// Bytes being decoded, and the descriptors that came with them (owned).
// Reading past the end throws mp::PicklingError: a truncated or hostile message
// never reads out of bounds.
class Reader {
 public:
  explicit Reader(std::string_view bytes, std::vector<internal::UniqueFd> fds = {})
      : data_(bytes), fds_(std::move(fds)) {}

  void read(void* out, size_t size) {
    if (size > data_.size() - pos_) throw PicklingError("truncated message");
    if (size == 0) return;
    std::memcpy(out, data_.data() + pos_, size);
    pos_ += size;
  }
  template <class T>
  T read_pod() {
    static_assert(std::is_trivially_copyable_v<T>);
    if constexpr (std::is_same_v<T, bool>) {
      // Any other byte than 0 or 1 is no bool (reading it as one is
      // undefined): a corrupt or hostile message (found by fuzz/codec_fuzzer).
      uint8_t byte;
      read(&byte, 1);
      if (byte > 1) throw PicklingError("a bool that is neither 0 nor 1");
      return byte == 1;
    } else {
      T value;
      read(&value, sizeof(T));
      return value;
    }
  }
  std::string_view read_view(size_t size) {
    if (size > data_.size() - pos_) throw PicklingError("truncated message");
    std::string_view view = data_.substr(pos_, size);
    pos_ += size;
    return view;
  }
  // Takes ownership of the descriptor attached at `index`.
  internal::UniqueFd take_fd(uint32_t index) {
    if (index >= fds_.size() || !fds_[index]) {
      throw PicklingError("message refers to a descriptor that did not arrive");
    }
    return std::move(fds_[index]);
  }
  size_t remaining() const noexcept { return data_.size() - pos_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
  std::vector<internal::UniqueFd> fds_;
};

template <class T>
struct Codec;

// A type that can cross a process boundary under spawn and forkserver.
template <class T>
concept Transferable = requires(Writer& w, Reader& r, const T& value) {
  Codec<T>::encode(w, value);
  { Codec<T>::decode(r) } -> std::same_as<T>;
};

class OutputArchive;
class InputArchive;

namespace internal {

template <class T, template <class...> class Tmpl>
struct is_instance : std::false_type {};
template <template <class...> class Tmpl, class... A>
struct is_instance<Tmpl<A...>, Tmpl> : std::true_type {};
template <class T, template <class...> class Tmpl>
inline constexpr bool is_instance_v = is_instance<T, Tmpl>::value;

template <class T>
struct is_std_array : std::false_type {};
template <class T, size_t N>
struct is_std_array<std::array<T, N>> : std::true_type {};

template <class T>
concept HasSerialize =
    std::is_default_constructible_v<T> && requires(T& v, OutputArchive& a) { v.serialize(a); };

// Sequences rebuilt element by element with push_back / insert.
template <class T>
inline constexpr bool is_sequence_v =
    is_instance_v<T, std::vector> || is_instance_v<T, std::deque> || is_instance_v<T, std::list>;
template <class T>
inline constexpr bool is_associative_v =
    is_instance_v<T, std::map> || is_instance_v<T, std::unordered_map> ||
    is_instance_v<T, std::set> || is_instance_v<T, std::unordered_set>;

template <class Tuple, size_t... I>
constexpr bool all_elements_transferable(std::index_sequence<I...>) {
  return (Transferable<std::tuple_element_t<I, Tuple>> && ...);
}

template <class... Alternatives>
constexpr bool variant_transferable(std::variant<Alternatives...>*) {
  return (Transferable<Alternatives> && ...);
}

template <class T>
constexpr bool builtin_transferable() {
  if constexpr (std::is_reference_v<T> || std::is_const_v<T>) {
    return false;
  } else if constexpr (HasSerialize<T>) {
    return true;
  } else if constexpr (std::is_same_v<T, std::string>) {
    return true;
  } else if constexpr (is_instance_v<T, std::map> || is_instance_v<T, std::unordered_map>) {
    // value_type is pair<const K, V>: keys and values travel apart.
    return Transferable<typename T::key_type> && Transferable<typename T::mapped_type>;
  } else if constexpr (is_sequence_v<T> || is_associative_v<T>) {
    return Transferable<typename T::value_type>;
  } else if constexpr (is_std_array<T>::value) {
    return Transferable<typename T::value_type>;
  } else if constexpr (is_instance_v<T, std::pair>) {
    return Transferable<typename T::first_type> && Transferable<typename T::second_type>;
  } else if constexpr (is_instance_v<T, std::tuple>) {
    return all_elements_transferable<T>(std::make_index_sequence<std::tuple_size_v<T>>());
  } else if constexpr (is_instance_v<T, std::optional>) {
    return Transferable<typename T::value_type>;
  } else if constexpr (is_instance_v<T, std::variant>) {
    return variant_transferable(static_cast<T*>(nullptr));
  } else {
    return std::is_trivially_copyable_v<T> && !std::is_pointer_v<T> &&
           !std::is_member_pointer_v<T> && !std::is_null_pointer_v<T>;
  }
}

// A vector of plain bytes-copyable elements: encoded in one copy.
template <class T>
constexpr bool is_bulk_vector() {
  if constexpr (is_instance_v<T, std::vector>) {
    using V = typename T::value_type;
    return std::is_trivially_copyable_v<V> && !std::is_same_v<V, bool> && !HasSerialize<V> &&
           !std::is_pointer_v<V>;
  } else {
    return false;
  }
}

inline void put_size(Writer& w, size_t n) { w.write_pod<uint64_t>(n); }
inline size_t get_size(Reader& r) {
  uint64_t n = r.read_pod<uint64_t>();
  // Every element takes at least one byte, so a count larger than what is
  // left is a corrupt or hostile message: refuse it before allocating.
  if (n > r.remaining()) throw PicklingError("implausible length in message");
  return static_cast<size_t>(n);
}

template <class T>
void put(Writer& w, const T& value);
template <class T>
T get(Reader& r);

}  // namespace internal

// The archive handed to a user type's serialize() when encoding.
class OutputArchive {
 public:
  explicit OutputArchive(Writer& w) : w_(w) {}
  template <class... Ts>
  void operator()(const Ts&... values) {
    (Codec<std::remove_cv_t<Ts>>::encode(w_, values), ...);
  }

 private:
  Writer& w_;
};

// The archive handed to a user type's serialize() when decoding.
class InputArchive {
 public:
  explicit InputArchive(Reader& r) : r_(r) {}
  template <class... Ts>
  void operator()(Ts&... values) {
    ((values = Codec<std::remove_cv_t<Ts>>::decode(r_)), ...);
  }

 private:
  Reader& r_;
};

// The default Codec: the built-in encodings listed at the top of this file.
template <class T>
struct Codec {
  // Marks the built-in codec (a specialization has its own rules): code that
  // moves bytes may copy a trivially copyable T as it is.
  using builtin_tag = void;
  static void encode(Writer& w, const T& value)
    requires(internal::builtin_transferable<T>())
  {
    internal::put(w, value);
  }
  static T decode(Reader& r)
    requires(internal::builtin_transferable<T>())
  {
    return internal::get<T>(r);
  }
};

namespace internal {

template <class T>
constexpr bool encoded_as_bytes();

template <class Tuple, size_t... I>
constexpr bool all_elements_as_bytes(std::index_sequence<I...>) {
  return (encoded_as_bytes<std::tuple_element_t<I, Tuple>>() && ...);
}

template <class... Alternatives>
constexpr bool variant_as_bytes(std::variant<Alternatives...>*) {
  return (encoded_as_bytes<Alternatives>() && ...);
}

// A composite (pair, tuple, array, optional, variant) is bytes only when every
// part is: a part with its own Codec keeps that Codec's rules (it may refuse).
template <class T>
constexpr bool encoded_as_bytes() {
  if constexpr (!requires { typename Codec<T>::builtin_tag; }) {
    return false;
  } else if constexpr (!std::is_trivially_copyable_v<T> || std::is_pointer_v<T> ||
                       std::is_member_pointer_v<T> || HasSerialize<T>) {
    return false;
  } else if constexpr (is_instance_v<T, std::pair> || is_instance_v<T, std::tuple>) {
    return all_elements_as_bytes<T>(std::make_index_sequence<std::tuple_size_v<T>>());
  } else if constexpr (is_std_array<T>::value || is_instance_v<T, std::optional>) {
    return encoded_as_bytes<typename T::value_type>();
  } else if constexpr (is_instance_v<T, std::variant>) {
    return variant_as_bytes(static_cast<T*>(nullptr));
  } else {
    return true;
  }
}

}  // namespace internal

// True when T's encoding is its object representation, byte for byte.
template <class T>
inline constexpr bool kEncodedAsBytes = internal::encoded_as_bytes<T>();

namespace internal {

// The size of T's encoding when it is the same for every value and is just
// the bytes of its parts in order (plain data, and pairs and tuples of such
// with the built-in codec); 0 otherwise. Such values can be written and read
// in place, many at a time.
template <class T>
constexpr size_t fixed_encoding_size() {
  if constexpr (!requires { typename Codec<T>::builtin_tag; }) {
    return 0;
  } else if constexpr (is_instance_v<T, std::pair>) {
    constexpr size_t a = fixed_encoding_size<typename T::first_type>();
    constexpr size_t b = fixed_encoding_size<typename T::second_type>();
    return a && b ? a + b : 0;
  } else if constexpr (is_instance_v<T, std::tuple>) {
    return []<size_t... I>(std::index_sequence<I...>) {
      constexpr size_t sizes[] = {fixed_encoding_size<std::tuple_element_t<I, T>>()..., 0};
      size_t total = 0;
      for (size_t i = 0; i < sizeof...(I); ++i) {
        if (sizes[i] == 0) return size_t{0};
        total += sizes[i];
      }
      return total;
    }(std::make_index_sequence<std::tuple_size_v<T>>());
  } else if constexpr (is_std_array<T>::value) {
    constexpr size_t each = fixed_encoding_size<typename T::value_type>();
    return each ? each * std::tuple_size_v<T> : 0;
  } else if constexpr (is_instance_v<T, std::optional> || is_instance_v<T, std::variant> ||
                       HasSerialize<T>) {
    return 0;  // a flag or an index comes first, or the user's own layout
  } else if constexpr (kEncodedAsBytes<T>) {
    return sizeof(T);  // written by write_pod: exactly its bytes
  } else {
    return 0;
  }
}

// Writes a fixed-size encoding at `out` (fixed_encoding_size<T>() bytes):
// what Codec<T>::encode would append.
template <class T>
void store_fixed(char* out, const T& value) {
  if constexpr (is_instance_v<T, std::pair>) {
    store_fixed(out, value.first);
    store_fixed(out + fixed_encoding_size<typename T::first_type>(), value.second);
  } else if constexpr (is_std_array<T>::value) {
    for (const auto& item : value) {
      store_fixed(out, item);
      out += fixed_encoding_size<typename T::value_type>();
    }
  } else if constexpr (!is_instance_v<T, std::tuple>) {
    std::memcpy(out, &value, sizeof(T));
  } else {
    std::apply(
        [&out](const auto&... parts) {
          ((store_fixed(out, parts),
            out += fixed_encoding_size<std::remove_cvref_t<decltype(parts)>>()),
           ...);
        },
        value);
  }
}

// Reads a fixed-size encoding from `in` into `value`.
template <class T>
void load_fixed(const char* in, T& value) {
  if constexpr (is_instance_v<T, std::pair>) {
    load_fixed(in, value.first);
    load_fixed(in + fixed_encoding_size<typename T::first_type>(), value.second);
  } else if constexpr (is_std_array<T>::value) {
    for (auto& item : value) {
      load_fixed(in, item);
      in += fixed_encoding_size<typename T::value_type>();
    }
  } else if constexpr (!is_instance_v<T, std::tuple>) {
    std::memcpy(&value, in, sizeof(T));
  } else {
    std::apply(
        [&in](auto&... parts) {
          ((load_fixed(in, parts),
            in += fixed_encoding_size<std::remove_cvref_t<decltype(parts)>>()),
           ...);
        },
        value);
  }
}

}  // namespace internal

// Encodes `value` after what `w` already holds.
template <Transferable T>
void encode(Writer& w, const T& value) {
  Codec<T>::encode(w, value);
}

// Decodes the next value of type T from `r`.
template <Transferable T>
T decode(Reader& r) {
  return Codec<T>::decode(r);
}

namespace internal {

template <class T>
void put(Writer& w, const T& value) {
  if constexpr (HasSerialize<T>) {
    OutputArchive archive(w);
    const_cast<T&>(value).serialize(archive);
  } else if constexpr (std::is_same_v<T, std::string>) {
    put_size(w, value.size());
    w.write(value.data(), value.size());
  } else if constexpr (is_bulk_vector<T>()) {
    put_size(w, value.size());
    w.write(value.data(), value.size() * sizeof(typename T::value_type));
  } else if constexpr (is_sequence_v<T> || is_associative_v<T>) {
    put_size(w, value.size());
    for (const auto& item : value) {
      if constexpr (is_instance_v<typename T::value_type, std::pair>) {
        using K = std::remove_const_t<typename T::value_type::first_type>;
        Codec<K>::encode(w, item.first);
        Codec<typename T::value_type::second_type>::encode(w, item.second);
      } else {
        Codec<typename T::value_type>::encode(w, item);
      }
    }
  } else if constexpr (is_std_array<T>::value) {
    for (const auto& item : value) Codec<typename T::value_type>::encode(w, item);
  } else if constexpr (is_instance_v<T, std::pair>) {
    Codec<typename T::first_type>::encode(w, value.first);
    Codec<typename T::second_type>::encode(w, value.second);
  } else if constexpr (is_instance_v<T, std::tuple>) {
    std::apply(
        [&w](const auto&... items) {
          (Codec<std::remove_cvref_t<decltype(items)>>::encode(w, items), ...);
        },
        value);
  } else if constexpr (is_instance_v<T, std::optional>) {
    w.write_pod<uint8_t>(value.has_value());
    if (value) Codec<typename T::value_type>::encode(w, *value);
  } else if constexpr (is_instance_v<T, std::variant>) {
    w.write_pod<uint32_t>(static_cast<uint32_t>(value.index()));
    std::visit(
        [&w](const auto& item) { Codec<std::remove_cvref_t<decltype(item)>>::encode(w, item); },
        value);
  } else {
    w.write_pod(value);
  }
}

template <class Variant, size_t... I>
Variant get_variant(Reader& r, size_t index, std::index_sequence<I...>) {
  using Factory = Variant (*)(Reader&);
  static constexpr Factory factories[] = {[](Reader& rr) -> Variant {
    return Variant(std::in_place_index<I>,
                   Codec<std::variant_alternative_t<I, Variant>>::decode(rr));
  }...};
  if (index >= sizeof...(I)) throw PicklingError("bad variant index");
  return factories[index](r);
}

template <class T>
T get(Reader& r) {
  if constexpr (HasSerialize<T>) {
    T value{};
    InputArchive archive(r);
    value.serialize(archive);
    return value;
  } else if constexpr (std::is_same_v<T, std::string>) {
    size_t n = get_size(r);
    return std::string(r.read_view(n));
  } else if constexpr (is_bulk_vector<T>()) {
    using V = typename T::value_type;
    size_t n = get_size(r);
    if (n > r.remaining() / (sizeof(V) ? sizeof(V) : 1)) throw PicklingError("truncated message");
    T out(n);
    r.read(out.data(), n * sizeof(V));
    return out;
  } else if constexpr (is_sequence_v<T> || is_associative_v<T>) {
    size_t n = get_size(r);
    T out;
    if constexpr (is_instance_v<T, std::vector>) out.reserve(std::min(n, r.remaining()));
    for (size_t i = 0; i < n; ++i) {
      if constexpr (is_instance_v<typename T::value_type, std::pair>) {
        using K = std::remove_const_t<typename T::value_type::first_type>;
        using M = typename T::value_type::second_type;
        K key = Codec<K>::decode(r);
        M mapped = Codec<M>::decode(r);
        if constexpr (is_associative_v<T>) {
          out.emplace(std::move(key), std::move(mapped));
        } else {
          out.emplace_back(std::move(key), std::move(mapped));
        }
      } else if constexpr (is_associative_v<T>) {
        out.insert(Codec<typename T::value_type>::decode(r));
      } else {
        out.push_back(Codec<typename T::value_type>::decode(r));
      }
    }
    return out;
  } else if constexpr (is_std_array<T>::value) {
    T out{};
    for (auto& item : out) item = Codec<typename T::value_type>::decode(r);
    return out;
  } else if constexpr (is_instance_v<T, std::pair>) {
    auto first = Codec<typename T::first_type>::decode(r);
    auto second = Codec<typename T::second_type>::decode(r);
    return T(std::move(first), std::move(second));
  } else if constexpr (is_instance_v<T, std::tuple>) {
    return [&r]<size_t... I>(std::index_sequence<I...>) {
      // Braced initialization evaluates left to right.
      return T{Codec<std::tuple_element_t<I, T>>::decode(r)...};
    }(std::make_index_sequence<std::tuple_size_v<T>>());
  } else if constexpr (is_instance_v<T, std::optional>) {
    if (r.read_pod<uint8_t>() == 0) return T{};
    return T(Codec<typename T::value_type>::decode(r));
  } else if constexpr (is_instance_v<T, std::variant>) {
    size_t index = r.read_pod<uint32_t>();
    return get_variant<T>(r, index, std::make_index_sequence<std::variant_size_v<T>>());
  } else {
    return r.read_pod<T>();
  }
}

}  // namespace internal

// Encodes a single value into a fresh Writer.
template <Transferable T>
Writer dumps(const T& value) {
  Writer w;
  Codec<T>::encode(w, value);
  return w;
}

}  // namespace mp

#endif  // MP_REDUCTION_H_
