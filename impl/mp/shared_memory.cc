#include "mp/shared_memory.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <system_error>

#include "mp/internal/fd.h"
#include "mp/internal/shm_guardian.h"

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
  if (::getrandom(&bits, sizeof(bits), 0) != sizeof(bits)) throw_errno("getrandom");
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

}  // namespace mp
