#include "mp/internal/launch/remote_exception.h"

#include <unistd.h>

#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>
#include <typeinfo>

#include "mp/errors.h"
#include "mp/process.h"

namespace mp::internal {
namespace {

enum class ExcKind : uint8_t {
  kUnknown,
  kStdException,
  kLogicError,
  kInvalidArgument,
  kDomainError,
  kLengthError,
  kOutOfRange,
  kRuntimeError,
  kRangeError,
  kOverflowError,
  kUnderflowError,
  kBadAlloc,
  kSystemError,
  kMpError,
  kValueError,
  kAssertionError,
  kMpRuntimeError,
  kKeyError,
  kIndexError,
  kTypeError,
  kEOFError,
  kEmpty,
  kFull,
  kProcessError,
  kAuthenticationError,
  kTimeoutError,
  kBrokenBarrierError,
  kPicklingError,
  kRemoteError,
  kWorkerLostError,
  kAttributeError,
};

template <class E>
bool is(const std::exception& e) {
  return typeid(e) == typeid(E);
}

ExcKind kind_of(const std::exception& e) {
  // Exact types only: a user's subclass of std::runtime_error is not a
  // std::runtime_error on the other side, it is a RemoteError naming it.
  if (is<std::exception>(e)) return ExcKind::kStdException;
  if (is<std::logic_error>(e)) return ExcKind::kLogicError;
  if (is<std::invalid_argument>(e)) return ExcKind::kInvalidArgument;
  if (is<std::domain_error>(e)) return ExcKind::kDomainError;
  if (is<std::length_error>(e)) return ExcKind::kLengthError;
  if (is<std::out_of_range>(e)) return ExcKind::kOutOfRange;
  if (is<std::runtime_error>(e)) return ExcKind::kRuntimeError;
  if (is<std::range_error>(e)) return ExcKind::kRangeError;
  if (is<std::overflow_error>(e)) return ExcKind::kOverflowError;
  if (is<std::underflow_error>(e)) return ExcKind::kUnderflowError;
  if (is<std::bad_alloc>(e)) return ExcKind::kBadAlloc;
  if (is<std::system_error>(e)) return ExcKind::kSystemError;
  if (is<Error>(e)) return ExcKind::kMpError;
  if (is<ValueError>(e)) return ExcKind::kValueError;
  if (is<AssertionError>(e)) return ExcKind::kAssertionError;
  if (is<RuntimeError>(e)) return ExcKind::kMpRuntimeError;
  if (is<KeyError>(e)) return ExcKind::kKeyError;
  if (is<IndexError>(e)) return ExcKind::kIndexError;
  if (is<TypeError>(e)) return ExcKind::kTypeError;
  if (is<EOFError>(e)) return ExcKind::kEOFError;
  if (is<Empty>(e)) return ExcKind::kEmpty;
  if (is<Full>(e)) return ExcKind::kFull;
  if (is<ProcessError>(e)) return ExcKind::kProcessError;
  if (is<AuthenticationError>(e)) return ExcKind::kAuthenticationError;
  if (is<TimeoutError>(e)) return ExcKind::kTimeoutError;
  if (is<BrokenBarrierError>(e)) return ExcKind::kBrokenBarrierError;
  if (is<PicklingError>(e)) return ExcKind::kPicklingError;
  if (is<RemoteError>(e)) return ExcKind::kRemoteError;
  if (is<WorkerLostError>(e)) return ExcKind::kWorkerLostError;
  if (is<AttributeError>(e)) return ExcKind::kAttributeError;
  return ExcKind::kUnknown;
}

std::string where_here() {
  return "Process " + current_process().name() + " (pid " + std::to_string(::getpid()) + ")";
}

}  // namespace

void encode_exception(Writer& w, std::exception_ptr e) {
  ExcKind kind = ExcKind::kUnknown;
  std::string type = "unknown exception", message;
  int code = 0;
  try {
    std::rethrow_exception(e);
  } catch (const std::system_error& x) {
    kind = kind_of(x);
    type = demangle(typeid(x).name());
    message = x.what();
    code = x.code().category() == std::generic_category() ||
                   x.code().category() == std::system_category()
               ? x.code().value()
               : 0;
  } catch (const RemoteError& x) {
    kind = kind_of(x);
    type = kind == ExcKind::kRemoteError ? x.type_name() : demangle(typeid(x).name());
    message = kind == ExcKind::kRemoteError ? x.message() : x.what();
  } catch (const std::exception& x) {
    kind = kind_of(x);
    type = demangle(typeid(x).name());
    message = x.what();
  } catch (...) {
  }
  w.write_pod(kind);
  w.write_pod(code);
  mp::encode(w, type);
  mp::encode(w, message);
  mp::encode(w, where_here());
}

std::exception_ptr decode_exception(Reader& r) {
  auto kind = r.read_pod<ExcKind>();
  int code = r.read_pod<int>();
  auto type = mp::decode<std::string>(r);
  auto m = mp::decode<std::string>(r);
  auto where = mp::decode<std::string>(r);
  switch (kind) {
    case ExcKind::kStdException:
      return std::make_exception_ptr(std::exception());
    case ExcKind::kLogicError:
      return std::make_exception_ptr(std::logic_error(m));
    case ExcKind::kInvalidArgument:
      return std::make_exception_ptr(std::invalid_argument(m));
    case ExcKind::kDomainError:
      return std::make_exception_ptr(std::domain_error(m));
    case ExcKind::kLengthError:
      return std::make_exception_ptr(std::length_error(m));
    case ExcKind::kOutOfRange:
      return std::make_exception_ptr(std::out_of_range(m));
    case ExcKind::kRuntimeError:
      return std::make_exception_ptr(std::runtime_error(m));
    case ExcKind::kRangeError:
      return std::make_exception_ptr(std::range_error(m));
    case ExcKind::kOverflowError:
      return std::make_exception_ptr(std::overflow_error(m));
    case ExcKind::kUnderflowError:
      return std::make_exception_ptr(std::underflow_error(m));
    case ExcKind::kBadAlloc:
      return std::make_exception_ptr(std::bad_alloc());
    case ExcKind::kSystemError: {
      // what() already holds the category's text after the caller's message.
      return std::make_exception_ptr(std::system_error(code, std::generic_category(), m));
    }
    case ExcKind::kMpError:
      return std::make_exception_ptr(Error(m));
    case ExcKind::kValueError:
      return std::make_exception_ptr(ValueError(m));
    case ExcKind::kAssertionError:
      return std::make_exception_ptr(AssertionError(m));
    case ExcKind::kMpRuntimeError:
      return std::make_exception_ptr(RuntimeError(m));
    case ExcKind::kKeyError:
      return std::make_exception_ptr(KeyError(m));
    case ExcKind::kIndexError:
      return std::make_exception_ptr(IndexError(m));
    case ExcKind::kTypeError:
      return std::make_exception_ptr(TypeError(m));
    case ExcKind::kEOFError:
      return std::make_exception_ptr(EOFError(m));
    case ExcKind::kEmpty:
      return std::make_exception_ptr(Empty(m));
    case ExcKind::kFull:
      return std::make_exception_ptr(Full(m));
    case ExcKind::kProcessError:
      return std::make_exception_ptr(ProcessError(m));
    case ExcKind::kAuthenticationError:
      return std::make_exception_ptr(AuthenticationError(m));
    case ExcKind::kTimeoutError:
      return std::make_exception_ptr(TimeoutError(m));
    case ExcKind::kBrokenBarrierError:
      return std::make_exception_ptr(BrokenBarrierError(m));
    case ExcKind::kPicklingError:
      return std::make_exception_ptr(PicklingError(m));
    case ExcKind::kRemoteError:
      return std::make_exception_ptr(RemoteError(type, m, where));
    case ExcKind::kWorkerLostError:
      return std::make_exception_ptr(WorkerLostError(m));
    case ExcKind::kAttributeError:
      return std::make_exception_ptr(AttributeError(m));
    case ExcKind::kUnknown:
      break;
  }
  return std::make_exception_ptr(RemoteError(type, m, where));
}

}  // namespace mp::internal
