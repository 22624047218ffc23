// mp/internal/launch/remote_exception.h — exceptions by value, for answers that
// cross a process boundary (pool results, manager replies).
//
// std and mp exception types travel by type and come back as the same type
// (exact types only); anything else becomes mp::RemoteError carrying the
// original type's name, its message, and where it was raised.

#ifndef MP_INTERNAL_LAUNCH_REMOTE_EXCEPTION_H_
#define MP_INTERNAL_LAUNCH_REMOTE_EXCEPTION_H_

#include <exception>
#include <string>

#include "mp/internal/base/fd.h"  // demangle
#include "mp/reduction.h"

namespace mp::internal {

void encode_exception(Writer& w, std::exception_ptr e);
std::exception_ptr decode_exception(Reader& r);

}  // namespace mp::internal

#endif  // MP_INTERNAL_LAUNCH_REMOTE_EXCEPTION_H_
