#include "mp/shared_memory.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <system_error>

#include "mp/internal/base/fd.h"
#include "mp/internal/launch/shm_guardian.h"

namespace mp {

struct SharedMemory::State {
  std::string name;
  size_t size = 0;
  void* data = nullptr;
  std::atomic<bool> closed{false};

  ~State() {
    if (!closed.exchange(true) && data != nullptr) ::munmap(data, size ? size : 1);
  }
};

namespace internal {
namespace {

std::atomic<ShmNameSource> g_name_source{nullptr};

// "mp_<tag>_<16 hex>": the tag from MP_SHM_TAG, with anything a name cannot
// hold left out.
std::string default_name() {
  std::string name = "mp_";
  if (const char* tag = std::getenv("MP_SHM_TAG"); tag != nullptr && *tag != '\0') {
    for (const char* c = tag; *c != '\0' && name.size() < 100; ++c) {
      if (*c != '/') name += *c;
    }
    name += '_';
  }
  uint64_t bits = 0;
  fill_random(&bits, sizeof(bits));
  static const char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) name += kHex[(bits >> (4 * i)) & 15];
  return name;
}

std::string fresh_name() {
  ShmNameSource source = g_name_source.load();
  return source ? source() : default_name();
}

// The name as given, checked, without its leading '/'.
std::string checked_name(std::string_view name) {
  if (name.find('\0') != std::string_view::npos) throw ValueError("embedded null character");
  if (!name.empty() && name.front() == '/') name.remove_prefix(1);
  if (name.empty()) throw ValueError("'name' can only be None if create=True");
  if (name.size() > NAME_MAX) {
    throw std::system_error(ENAMETOOLONG, std::generic_category(), "shared memory name");
  }
  return std::string(name);
}

std::string posix_name(const std::string& name) { return "/" + name; }

}  // namespace

ShmNameSource set_shm_name_source(ShmNameSource source) { return g_name_source.exchange(source); }

}  // namespace internal

SharedMemory::SharedMemory(std::string_view name)
    : SharedMemory(SharedMemoryOptions{.name = std::string(name)}) {}

SharedMemory::SharedMemory(const SharedMemoryOptions& options) : state_(std::make_shared<State>()) {
  using namespace internal;
  if (options.size < 0) throw ValueError("'size' must be a positive integer");
  internal::UniqueFd fd;
  std::string name;
  if (options.create) {
    if (options.size == 0) {
      throw ValueError("'size' must be a positive number different from zero");
    }
    bool generated = options.name.empty();
    for (int attempt = 0;; ++attempt) {
      name = generated ? checked_name(fresh_name()) : checked_name(options.name);
      fd.reset(::shm_open(posix_name(name).c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600));
      if (fd) break;
      // A drawn name that is taken: draw again (CPython does the same).
      if (errno == EEXIST && generated && attempt < 100) continue;
      throw_errno(posix_name(name).c_str());
    }
    auto undo = [&name] { ::shm_unlink(posix_name(name).c_str()); };
    struct stat st {};
    if (::ftruncate(fd.get(), static_cast<off_t>(options.size)) < 0 || ::fstat(fd.get(), &st) < 0) {
      int err = errno;
      undo();
      throw_errno(err, "ftruncate");
    }
    state_->size = static_cast<size_t>(options.size);
    if (options.track) {
      try {
        guard_shm_name(name, st.st_ino);
      } catch (...) {
        undo();
        throw;
      }
    }
    void* data = ::mmap(nullptr, state_->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (data == MAP_FAILED) {
      int err = errno;
      undo();
      forget_shm_name(name);
      throw_errno(err, "mmap");
    }
    state_->data = data;
  } else {
    name = checked_name(options.name);
    fd.reset(::shm_open(posix_name(name).c_str(), O_RDWR | O_CLOEXEC, 0));
    if (!fd) throw_errno(posix_name(name).c_str());
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) throw_errno("fstat");
    size_t real = static_cast<size_t>(st.st_size);
    if (real == 0) throw ValueError("cannot attach to an empty shared memory segment");
    if (static_cast<uint64_t>(options.size) > real) {
      throw ValueError("shared memory segment '" + name + "' has " + std::to_string(real) +
                       " bytes, fewer than the " + std::to_string(options.size) + " asked for");
    }
    void* data = ::mmap(nullptr, real, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (data == MAP_FAILED) throw_errno("mmap");
    state_->data = data;
    state_->size = real;
  }
  state_->name = std::move(name);
}

const std::string& SharedMemory::name() const noexcept { return state_->name; }

size_t SharedMemory::size() const noexcept { return state_->size; }

std::span<std::byte> SharedMemory::buf() const {
  if (state_->closed.load()) throw ValueError("operation on a closed SharedMemory");
  return {static_cast<std::byte*>(state_->data), state_->size};
}

void SharedMemory::close() noexcept {
  if (!state_->closed.exchange(true)) ::munmap(state_->data, state_->size);
}

bool SharedMemory::closed() const noexcept { return state_->closed.load(); }

void SharedMemory::unlink() {
  int rc = ::shm_unlink(internal::posix_name(state_->name).c_str());
  int err = errno;
  // Gone either way: nothing for this process's guardian to remove.
  if (rc == 0 || err == ENOENT) internal::forget_shm_name(state_->name);
  if (rc != 0) internal::throw_errno(err, internal::posix_name(state_->name).c_str());
}

std::string SharedMemory::repr() const {
  return "SharedMemory('" + state_->name + "', size=" + std::to_string(state_->size) + ")";
}

// ShareableList ------------------------------------------------------------------
//
// CPython's layout (Lib/multiprocessing/shared_memory.py), for n items:
//   0                  int64 n
//   8                  int64 offsets[n + 1]: each slot's start from the data
//                      start; offsets[n] is the data's size
//   8 (n + 2)          the slots
//   + offsets[n]       n struct formats, 8 bytes each, NUL-padded
//   + 8 n              n back-transform codes, one signed byte each:
//                      0 as unpacked (int, float, bool), 1 str, 2 bytes, 3 None
// Numbers in native byte order (little-endian here, as CPython's struct).

namespace {

constexpr size_t kAlign = 8;
enum Code : int8_t { kAsIs = 0, kStr = 1, kBytes = 2, kNone = 3 };
constexpr std::string_view kBoolFormat = "xxxxxxx?";
constexpr std::string_view kNoneFormat = "xxxxxx?x";

// The bytes of a str or bytes item; nullptr for the others.
const std::string* text_of(const ShareableList::Item& item) {
  if (const auto* s = std::get_if<std::string>(&item)) return s;
  if (const auto* b = std::get_if<Bytes>(&item)) return &b->value;
  return nullptr;
}

// CPython's slot for a str or bytes of `length`: the next multiple of 8
// above it (a multiple of 8 gets 8 more).
size_t text_slot(size_t length) { return kAlign * (length / kAlign + 1); }

// The slot of an item: 8 bytes, or for a str or bytes CPython's slot for its
// length. A str's length is its count of code points there; when its UTF-8
// does not fit that slot (CPython's constructor would cut it short), the
// slot its bytes need.
size_t slot_of(const ShareableList::Item& item) {
  if (const auto* b = std::get_if<Bytes>(&item)) return text_slot(b->value.size());
  const auto* s = std::get_if<std::string>(&item);
  if (s == nullptr) return kAlign;
  size_t code_points = 0;
  for (unsigned char c : *s) code_points += (c & 0xc0) != 0x80;
  const size_t slot = text_slot(code_points);
  return s->size() <= slot ? slot : text_slot(s->size());
}

std::string format_of(const ShareableList::Item& item, size_t slot) {
  switch (item.index()) {
    case 0:
      return std::string(kNoneFormat);
    case 1:
      return std::string(kBoolFormat);
    case 2:
      return "q";
    case 3:
      return "d";
    default:
      return std::to_string(slot) + "s";
  }
}

int8_t code_of(const ShareableList::Item& item) {
  switch (item.index()) {
    case 0:
      return kNone;
    case 4:
      return kStr;
    case 5:
      return kBytes;
    default:
      return kAsIs;
  }
}

template <class T>
T load(std::span<const std::byte> buf, size_t at) {
  T value;
  std::memcpy(&value, buf.data() + at, sizeof(T));
  return value;
}
template <class T>
void store(std::span<std::byte> buf, size_t at, const T& value) {
  std::memcpy(buf.data() + at, &value, sizeof(T));
}

[[noreturn]] void not_a_list(const std::string& name, const std::string& why) {
  throw ValueError("shared memory segment '" + name + "' holds no ShareableList: " + why);
}

// Python's ==, for items.
bool python_equal(const ShareableList::Item& a, const ShareableList::Item& b) {
  auto number = [](const ShareableList::Item& x) -> std::optional<std::variant<int64_t, double>> {
    if (const auto* v = std::get_if<bool>(&x)) return int64_t{*v};
    if (const auto* v = std::get_if<int64_t>(&x)) return *v;
    if (const auto* v = std::get_if<double>(&x)) return *v;
    return std::nullopt;
  };
  auto na = number(a), nb = number(b);
  if (na && nb) {
    const auto* ia = std::get_if<int64_t>(&*na);
    const auto* ib = std::get_if<int64_t>(&*nb);
    if (ia && ib) return *ia == *ib;
    // An int equals a float when the float is exactly that integer.
    double d = ia ? std::get<double>(*nb) : std::get<double>(*na);
    if (!ia && !ib) return std::get<double>(*na) == std::get<double>(*nb);
    int64_t i = ia ? *ia : *ib;
    if (!(d >= -0x1p63 && d < 0x1p63) || d != std::trunc(d)) return false;
    return static_cast<int64_t>(d) == i;
  }
  if (a.index() != b.index()) return false;
  return a == b;
}

std::string python_repr(const ShareableList::Item& item) {
  auto quoted = [](std::string_view text, bool bytes) {
    std::string out = bytes ? "b'" : "'";
    for (unsigned char c : text) {
      if (c == '\'' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c == '\n') {
        out += "\\n";
      } else if (c < 0x20 || c == 0x7f || (bytes && c >= 0x80)) {
        char hex[5];
        std::snprintf(hex, sizeof(hex), "\\x%02x", c);
        out += hex;
      } else {
        out += static_cast<char>(c);
      }
    }
    return out + "'";
  };
  switch (item.index()) {
    case 0:
      return "None";
    case 1:
      return std::get<bool>(item) ? "True" : "False";
    case 2:
      return std::to_string(std::get<int64_t>(item));
    case 3: {
      double d = std::get<double>(item);
      if (std::isnan(d)) return "nan";
      if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
      char buf[32];
      auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d);
      std::string text(buf, end);
      if (text.find_first_of(".en") == std::string::npos) text += ".0";
      return text;
    }
    case 4:
      return quoted(std::get<std::string>(item), false);
    default:
      return quoted(std::get<Bytes>(item).value, true);
  }
}

}  // namespace

std::string ShareableList::type_name(const Item& item) {
  static const char* const kNames[] = {"NoneType", "bool", "int", "float", "str", "bytes"};
  return kNames[item.index()];
}

size_t ShareableList::bytes_for(const std::vector<Item>& items) {
  size_t data = 0;
  for (const Item& item : items) data += slot_of(item);
  return kAlign + kAlign * (items.size() + 1) + data + kAlign * items.size() + items.size();
}

ShareableList::ShareableList(const std::vector<Item>& items, const ShareableListOptions& options)
    : ShareableList(SharedMemory(SharedMemoryOptions{.name = options.name,
                                                     .create = true,
                                                     .size = static_cast<int64_t>(bytes_for(items)),
                                                     .track = options.track}),
                    items) {}

ShareableList::ShareableList(SharedMemory shm, const std::vector<Item>& items)
    : shm_(std::move(shm)), count_(items.size()) {
  std::span<std::byte> buf = shm_.buf();
  if (buf.size() < bytes_for(items)) {
    throw ValueError("shared memory segment '" + shm_.name() + "' is too small for the list");
  }
  offsets_.assign(1, 0);
  for (const Item& item : items) offsets_.push_back(offsets_.back() + slot_of(item));
  store<int64_t>(buf, 0, static_cast<int64_t>(count_));
  for (size_t i = 0; i <= count_; ++i) store<int64_t>(buf, kAlign * (i + 1), offsets_[i]);
  const size_t data = kAlign * (count_ + 2);
  const size_t formats = data + offsets_[count_];
  const size_t codes = formats + kAlign * count_;
  for (size_t i = 0; i < count_; ++i) {
    const size_t slot = offsets_[i + 1] - offsets_[i];
    std::string format = format_of(items[i], slot);
    std::memset(buf.data() + formats + kAlign * i, 0, kAlign);
    std::memcpy(buf.data() + formats + kAlign * i, format.data(), format.size());
    store<int8_t>(buf, codes + i, code_of(items[i]));
    std::byte* at = buf.data() + data + offsets_[i];
    std::memset(at, 0, slot);
    if (const std::string* text = text_of(items[i])) {
      std::memcpy(at, text->data(), text->size());
    } else if (const auto* b = std::get_if<bool>(&items[i])) {
      at[kAlign - 1] = std::byte{*b};
    } else if (const auto* v = std::get_if<int64_t>(&items[i])) {
      std::memcpy(at, v, sizeof(*v));
    } else if (const auto* d = std::get_if<double>(&items[i])) {
      std::memcpy(at, d, sizeof(*d));
    }
  }
}

ShareableList::ShareableList(attach_tag, std::string_view name)
    : shm_(SharedMemoryOptions{.name = std::string(name)}) {
  read_header();
}

void ShareableList::read_header() {
  std::span<const std::byte> buf = shm_.buf();
  if (buf.size() < 2 * kAlign) not_a_list(shm_.name(), "too small");
  const int64_t n = load<int64_t>(buf, 0);
  // Each item takes at least 8 + 8 + 8 + 1 bytes.
  if (n < 0 || static_cast<uint64_t>(n) > buf.size() / (3 * kAlign + 1)) {
    not_a_list(shm_.name(), "an item count of " + std::to_string(n));
  }
  count_ = static_cast<size_t>(n);
  offsets_.resize(count_ + 1);
  for (size_t i = 0; i <= count_; ++i) {
    const int64_t offset = load<int64_t>(buf, kAlign * (i + 1));
    if (offset < 0 || (i == 0 && offset != 0) ||
        (i > 0 && static_cast<uint64_t>(offset) < offsets_[i - 1] + kAlign) ||
        static_cast<uint64_t>(offset) > buf.size()) {
      not_a_list(shm_.name(), "slot offsets out of order");
    }
    offsets_[i] = static_cast<uint64_t>(offset);
  }
  if (kAlign * (count_ + 2) + offsets_[count_] + (kAlign + 1) * count_ > buf.size()) {
    not_a_list(shm_.name(), "the slots run past its end");
  }
}

namespace {

// The length a text item's format "<n>s" gives, if it is one and n is
// within the slot.
std::optional<size_t> text_length(const std::string& format, size_t slot) {
  size_t length = 0;
  auto [end, ec] = std::from_chars(format.data(), format.data() + format.size(), length);
  if (ec != std::errc() || std::string_view(end, format.data() + format.size()) != "s" ||
      length > slot) {
    return std::nullopt;
  }
  return length;
}

// An index in range, Python-style: negative ones count from the end.
size_t position(int64_t index, size_t count) {
  const int64_t n = static_cast<int64_t>(count);
  const int64_t at = index < 0 ? index + n : index;
  if (at < 0 || at >= n) throw IndexError("index out of range");
  return static_cast<size_t>(at);
}

}  // namespace

ShareableList::Item ShareableList::operator[](int64_t index) const {
  const size_t i = position(index, count_);
  std::span<const std::byte> buf = shm_.buf();
  const size_t data = kAlign * (count_ + 2);
  const size_t formats = data + offsets_[count_];
  const size_t slot = offsets_[i + 1] - offsets_[i];
  const std::byte* at = buf.data() + data + offsets_[i];
  std::string format(reinterpret_cast<const char*>(buf.data() + formats + kAlign * i), kAlign);
  format.erase(format.find_last_not_of('\0') + 1);
  const int8_t code = load<int8_t>(buf, formats + kAlign * count_ + i);
  auto bad = [&](const std::string& why) -> Item {
    throw ValueError("item " + std::to_string(i) + " of ShareableList '" + shm_.name() +
                     "' cannot be read: " + why);
  };
  if (code == kNone) return nullptr;
  if (code == kStr || code == kBytes) {
    const std::optional<size_t> length = text_length(format, slot);
    if (!length) return bad("format '" + format + "'");
    std::string text(reinterpret_cast<const char*>(at), *length);
    text.erase(text.find_last_not_of('\0') + 1);  // CPython strips trailing NULs
    if (code == kStr) return text;
    return Bytes(text);
  }
  if (code != kAsIs) return bad("back-transform code " + std::to_string(code));
  if (format == "q") return load<int64_t>(std::span(at, kAlign), 0);
  if (format == "d") return load<double>(std::span(at, kAlign), 0);
  if (format == kBoolFormat) return at[kAlign - 1] != std::byte{0};
  return bad("format '" + format + "'");
}

void ShareableList::set(int64_t index, const Item& value) {
  const size_t i = position(index, count_);
  std::span<std::byte> buf = shm_.buf();
  const size_t data = kAlign * (count_ + 2);
  const size_t formats = data + offsets_[count_];
  const size_t slot = offsets_[i + 1] - offsets_[i];
  std::string format;
  if (const std::string* text = text_of(value)) {
    if (text->size() > slot) {
      throw ValueError("bytes/str item exceeds available storage: " + std::to_string(text->size()) +
                       " bytes for a slot of " + std::to_string(slot));
    }
    // A text slot keeps its format; another (or one that is not a valid
    // text format) takes the whole slot (CPython).
    std::string current(reinterpret_cast<const char*>(buf.data() + formats + kAlign * i), kAlign);
    current.erase(current.find_last_not_of('\0') + 1);
    format = text_length(current, slot) ? current : std::to_string(slot) + "s";
  } else {
    format = format_of(value, slot);
  }
  const size_t length = format.back() == 's' ? *text_length(format, slot) : kAlign;
  std::memset(buf.data() + formats + kAlign * i, 0, kAlign);
  std::memcpy(buf.data() + formats + kAlign * i, format.data(), format.size());
  store<int8_t>(buf, formats + kAlign * count_ + i, code_of(value));
  std::byte* at = buf.data() + data + offsets_[i];
  std::memset(at, 0, length);
  if (const std::string* text = text_of(value)) {
    std::memcpy(at, text->data(), text->size());
  } else if (const auto* b = std::get_if<bool>(&value)) {
    at[kAlign - 1] = std::byte{*b};
  } else if (const auto* v = std::get_if<int64_t>(&value)) {
    std::memcpy(at, v, sizeof(*v));
  } else if (const auto* d = std::get_if<double>(&value)) {
    std::memcpy(at, d, sizeof(*d));
  }
}

std::vector<ShareableList::Item> ShareableList::items() const {
  std::vector<Item> out;
  out.reserve(count_);
  for (size_t i = 0; i < count_; ++i) out.push_back((*this)[static_cast<int64_t>(i)]);
  return out;
}

size_t ShareableList::count(const Item& value) const {
  size_t n = 0;
  for (const Item& item : items()) n += python_equal(item, value);
  return n;
}

size_t ShareableList::index(const Item& value) const {
  for (size_t i = 0; i < count_; ++i) {
    if (python_equal((*this)[static_cast<int64_t>(i)], value)) return i;
  }
  throw ValueError(python_repr(value) + " not in this container");
}

std::string ShareableList::format() const {
  std::span<const std::byte> buf = shm_.buf();
  const size_t formats = kAlign * (count_ + 2) + offsets_[count_];
  std::string out;
  for (size_t i = 0; i < count_; ++i) {
    std::string one(reinterpret_cast<const char*>(buf.data() + formats + kAlign * i), kAlign);
    out += one.substr(0, one.find('\0'));
  }
  return out;
}

std::string ShareableList::repr() const {
  std::string out = "ShareableList([";
  std::vector<Item> all = items();
  for (size_t i = 0; i < all.size(); ++i) out += (i ? ", " : "") + python_repr(all[i]);
  return out + "], name='" + shm_.name() + "')";
}

}  // namespace mp
