// mp/errors.h — the exceptions multiprocessing raises, one class per Python name.
//
// Every class derives from mp::Error (itself a std::runtime_error), and the
// sub-hierarchy follows Python's: BufferTooShort, AuthenticationError and
// TimeoutError are ProcessErrors; BrokenBarrierError is a RuntimeError; so are
// mp::futures::BrokenExecutor and its BrokenProcessPool and BrokenThreadPool.
// Failing system calls throw std::system_error instead. Destructors never throw.

#ifndef MP_ERRORS_H_
#define MP_ERRORS_H_

#include <stdexcept>
#include <string>
#include <utility>

namespace mp {

// Base of every mp exception. Python: Exception.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// queue.Empty: get_nowait() / get(timeout) found nothing.
class Empty : public Error {
 public:
  Empty() : Error("queue is empty") {}
  using Error::Error;
};

// queue.Full: put_nowait() / put(timeout) found no room.
class Full : public Error {
 public:
  Full() : Error("queue is full") {}
  using Error::Error;
};

class ValueError : public Error {
 public:
  using Error::Error;
};

class AssertionError : public Error {
 public:
  using Error::Error;
};

class RuntimeError : public Error {
 public:
  using Error::Error;
};

class KeyError : public Error {
 public:
  using Error::Error;
};

class IndexError : public Error {
 public:
  using Error::Error;
};

class TypeError : public Error {
 public:
  using Error::Error;
};

// An object has no such attribute or method (a manager proxy calling a
// method its referent does not expose, a Namespace without the name).
class AttributeError : public Error {
 public:
  using Error::Error;
};

// The peer closed the connection and everything it sent has been read.
class EOFError : public Error {
 public:
  EOFError() : Error("connection closed by peer") {}
  using Error::Error;
};

// multiprocessing.ProcessError and its subclasses.
class ProcessError : public Error {
 public:
  using Error::Error;
};

// recv_bytes_into() was given a buffer smaller than the message; the whole
// message is kept in message().
class BufferTooShort : public ProcessError {
 public:
  explicit BufferTooShort(std::string message)
      : ProcessError("buffer too short for the received message"), message_(std::move(message)) {}
  const std::string& message() const noexcept { return message_; }

 private:
  std::string message_;
};

class AuthenticationError : public ProcessError {
 public:
  using ProcessError::ProcessError;
};

// multiprocessing.TimeoutError: AsyncResult::get(timeout) and friends.
class TimeoutError : public ProcessError {
 public:
  using ProcessError::ProcessError;
};

// threading.BrokenBarrierError (a RuntimeError in Python).
class BrokenBarrierError : public RuntimeError {
 public:
  BrokenBarrierError() : RuntimeError("barrier is broken") {}
  using RuntimeError::RuntimeError;
};

// A value or a target cannot cross a process boundary.
class PicklingError : public Error {
 public:
  using Error::Error;
};

// An exception raised in another process whose type mp does not know.
class RemoteError : public Error {
 public:
  RemoteError(std::string type_name, std::string message, std::string where = {})
      : Error(type_name + ": " + message),
        type_name_(std::move(type_name)),
        message_(std::move(message)),
        where_(std::move(where)) {}
  const std::string& type_name() const noexcept { return type_name_; }
  const std::string& message() const noexcept { return message_; }
  // Where it was raised, e.g. "Process Process-3 (pid 1234)".
  const std::string& where() const noexcept { return where_; }

 private:
  std::string type_name_;
  std::string message_;
  std::string where_;
};

// A pool worker died (signal, std::exit) while it held a task.
class WorkerLostError : public ProcessError {
 public:
  using ProcessError::ProcessError;
};

// Python: concurrent.futures' exceptions.
namespace futures {

// Future.result() / exception() of a cancelled future.
class CancelledError : public Error {
 public:
  CancelledError() : Error("the future was cancelled") {}
  using Error::Error;
};

// set_result() / set_exception() on a future that is already done.
class InvalidStateError : public Error {
 public:
  using Error::Error;
};

// An executor that can no longer run anything (Python: a RuntimeError).
class BrokenExecutor : public RuntimeError {
 public:
  using RuntimeError::RuntimeError;
};

// A worker process of a ProcessPoolExecutor ended abruptly, or could not
// decode its task, or its initializer failed.
class BrokenProcessPool : public BrokenExecutor {
 public:
  using BrokenExecutor::BrokenExecutor;
};

// An initializer of a ThreadPoolExecutor failed.
class BrokenThreadPool : public BrokenExecutor {
 public:
  using BrokenExecutor::BrokenExecutor;
};

}  // namespace futures

}  // namespace mp

#endif  // MP_ERRORS_H_
