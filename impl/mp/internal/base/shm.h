// mp/internal/base/shm.h — shared memory for mp's primitives.
//
// A Segment is a memfd mapped MAP_SHARED. It has no name: nothing appears in
// /dev/shm, and the kernel frees the memory when the last process that maps it
// unmaps it and closes its descriptor, whatever way that process ends. It
// reaches a child by inheritance (fork) or as a descriptor in the child's
// start message (spawn, forkserver, Connection::send), and is mapped there.

#ifndef MP_INTERNAL_BASE_SHM_H_
#define MP_INTERNAL_BASE_SHM_H_

#include <cstddef>
#include <memory>
#include <new>
#include <utility>

#include "mp/internal/base/fd.h"
#include "mp/reduction.h"

namespace mp::internal {

class Segment {
 public:
  // A new zero-filled segment of `size` bytes; `name` shows in /proc/<pid>/maps.
  static std::shared_ptr<Segment> create(size_t size, const char* name);
  // Maps a segment received as a descriptor. A descriptor that is not a
  // segment of the expected size throws mp::PicklingError.
  static std::shared_ptr<Segment> attach(UniqueFd fd, size_t expected_size);

  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  ~Segment();

  void* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }
  int fd() const noexcept { return fd_.get(); }

 private:
  Segment(UniqueFd fd, void* data, size_t size) : fd_(std::move(fd)), data_(data), size_(size) {}
  UniqueFd fd_;
  void* data_;
  size_t size_;
};

// A T placed in its own Segment: the state of one shared primitive. T must
// be usable from several processes at once (atomics, no pointers).
template <class T>
class Shared {
 public:
  Shared() = default;
  template <class... A>
  static Shared create(const char* name, A&&... args) {
    Shared s;
    s.segment_ = Segment::create(sizeof(T), name);
    s.value_ = new (s.segment_->data()) T(std::forward<A>(args)...);
    return s;
  }
  // Encodes the segment's descriptor (see Codec).
  void encode(Writer& w) const { w.write_pod(w.add_fd(segment_->fd())); }
  static Shared decode(Reader& r) {
    Shared s;
    s.segment_ = Segment::attach(r.take_fd(r.read_pod<uint32_t>()), sizeof(T));
    s.value_ = static_cast<T*>(s.segment_->data());
    return s;
  }
  T* operator->() const noexcept { return value_; }
  T& operator*() const noexcept { return *value_; }
  T* get() const noexcept { return value_; }
  explicit operator bool() const noexcept { return value_ != nullptr; }
  friend bool operator==(const Shared& a, const Shared& b) noexcept { return a.value_ == b.value_; }

 private:
  std::shared_ptr<Segment> segment_;
  T* value_ = nullptr;
};

}  // namespace mp::internal

#endif  // MP_INTERNAL_BASE_SHM_H_
