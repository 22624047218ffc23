#include "mp/internal/base/shm.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mp/errors.h"

namespace mp::internal {

namespace {
size_t round_to_pages(size_t size) {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return (size + page - 1) / page * page;
}
}  // namespace

std::shared_ptr<Segment> Segment::create(size_t size, const char* name) {
  size_t mapped = round_to_pages(size ? size : 1);
  UniqueFd fd(::memfd_create(name, MFD_CLOEXEC));
  if (!fd) throw_errno("memfd_create");
  fd = above_stdio(std::move(fd));
  if (::ftruncate(fd.get(), static_cast<off_t>(mapped)) < 0) throw_errno("ftruncate");
  void* data = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (data == MAP_FAILED) throw_errno("mmap");
  return std::shared_ptr<Segment>(new Segment(std::move(fd), data, mapped));
}

std::shared_ptr<Segment> Segment::attach(UniqueFd fd, size_t expected_size) {
  struct stat st {};
  if (::fstat(fd.get(), &st) < 0) throw_errno("fstat");
  size_t mapped = round_to_pages(expected_size ? expected_size : 1);
  if (!S_ISREG(st.st_mode) || static_cast<size_t>(st.st_size) != mapped) {
    throw PicklingError("received a descriptor that is not the expected shared segment");
  }
  void* data = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (data == MAP_FAILED) throw_errno("mmap");
  return std::shared_ptr<Segment>(new Segment(std::move(fd), data, mapped));
}

Segment::~Segment() { ::munmap(data_, size_); }

}  // namespace mp::internal
