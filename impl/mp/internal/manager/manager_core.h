// mp/internal/manager/manager_core.h — the machinery behind mp/managers.h: the
// request protocol, the client's connections, and the server that owns the
// objects proxies stand for.
//
// A request is one message on an authenticated mp::Connection:
//   u8 op | u64 object id | string method or type name | string signature | arguments
// and its reply one message: u8 status (0 ok, 1 exception) | result or exception.
// The signature names the result and argument types ("i(NSt7__cxx1112basic_string...)"),
// so the server refuses a call whose types do not match the method with
// mp::TypeError before decoding anything: a wrong call never reinterprets bytes.
//
// Each client thread keeps one connection per manager; the server serves each
// connection on its own thread, so a blocking call (Lock::acquire, Queue::get)
// blocks only its caller, as in CPython's server.

#ifndef MP_INTERNAL_MANAGER_MANAGER_CORE_H_
#define MP_INTERNAL_MANAGER_MANAGER_CORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "mp/connection.h"
#include "mp/errors.h"
#include "mp/internal/base/target.h"
#include "mp/internal/launch/remote_exception.h"
#include "mp/reduction.h"

namespace mp::internal {

enum class ManagerOp : uint8_t { kCall = 1, kCreate = 2, kShutdown = 3, kPing = 4 };

// "R(A1,A2)" with the mangled names of the decayed types.
template <class R, class... A>
const std::string& call_signature() {
  static const std::string s = [] {
    std::string out = typeid(R).name();
    out += '(';
    bool first = true;
    ((out += (first ? "" : ","), out += typeid(std::decay_t<A>).name(), first = false), ...);
    out += ')';
    return out;
  }();
  return s;
}

// The same signature, readable, for error messages.
std::string readable_signature(std::string_view signature);

// Where a manager listens and the key it wants. Interned for the life of the
// process: every proxy of one manager in a process shares one link, and its
// slot in each thread's connection cache.
struct ManagerLink {
  Address address;
  std::string authkey;
  size_t slot = 0;
  mutable std::atomic<uint64_t> epoch{0};  // advanced by forget_connections()

  static std::shared_ptr<const ManagerLink> get(const Address& address, const std::string& authkey);
};

// Starts a request in `w`.
void begin_request(Writer& w, ManagerOp op, uint64_t id, std::string_view name,
                   std::string_view signature);
// Sends the request on this thread's connection to the manager and returns
// the reply: its status byte (0) and the payload after it. A remote
// exception is rethrown as its type. A server
// that cannot be reached throws std::system_error (ECONNREFUSED, ENOENT); one
// that goes away during the call throws mp::EOFError.
std::string transact(const ManagerLink& link, const Writer& request);
// The first message a client sends on a fresh connection, for a client that
// talks on the socket itself (a raw or a one-off connection).
void send_hello(Connection& connection);
// Forgets this thread's connection to `link` (the next call reconnects), and
// marks every thread's connection to it stale.
void forget_connections(const ManagerLink& link);

// The server side ------------------------------------------------------------------------

class ManagerServer;

// An object the server owns: a registered type's instance and its exposed methods.
class Servant {
 public:
  virtual ~Servant() = default;
  // Runs `method` with arguments from `args`, writing its result to `out`.
  // Unknown or unexposed method -> mp::AttributeError; other argument or
  // result types -> mp::TypeError; what the method throws passes through.
  virtual void call(std::string_view method, std::string_view signature, Reader& args,
                    Writer& out) = 0;
  // The object itself, for servers that need a referent (Condition over a Lock).
  virtual void* object(const std::type_info& type) = 0;
};

using ServantFactory = std::unique_ptr<Servant> (*)(ManagerServer& server,
                                                    std::string_view signature, Reader& args);

// The process-wide table of type names a server can create, as
// BaseManager.register fills it.
void register_servant(const std::string& name, ServantFactory factory);
ServantFactory find_servant(const std::string& name);
std::vector<std::pair<std::string, ServantFactory>> registered_servants();

// A method an object exposes: Python's `exposed` list, with the member function.
template <class F>
struct ExposedMethod {
  const char* name;
  F function;
};

template <class F>
struct member_function;
template <class R, class C, class... P>
struct member_function<R (C::*)(P...)> {
  using result = R;
  using args = std::tuple<std::decay_t<P>...>;
  static const std::string& signature() { return call_signature<R, P...>(); }
};
template <class R, class C, class... P>
struct member_function<R (C::*)(P...) const> : member_function<R (C::*)(P...)> {};
template <class R, class C, class... P>
struct member_function<R (C::*)(P...) noexcept> : member_function<R (C::*)(P...)> {};
template <class R, class C, class... P>
struct member_function<R (C::*)(P...) const noexcept> : member_function<R (C::*)(P...)> {};

[[noreturn]] void throw_signature_mismatch(std::string_view what, std::string_view expected,
                                           std::string_view got);

template <class T>
concept ConcurrentReferent = requires { requires T::kConcurrent; };

// A T held by the server. Calls are serialized by a mutex unless T says it
// synchronizes itself (static constexpr bool kConcurrent = true), as the
// blocking primitives do.
template <class T>
class ObjectServant final : public Servant {
 public:
  template <class... A>
  explicit ObjectServant(A&&... args) : object_(std::forward<A>(args)...) {}

  void call(std::string_view method, std::string_view signature, Reader& args,
            Writer& out) override {
    bool found = std::apply(
        [&](const auto&... entry) {
          return (try_entry(entry, method, signature, args, out) || ...);
        },
        T::exposed());
    if (!found) {
      throw AttributeError("'" + demangle(typeid(T).name()) + "' exposes no method '" +
                           std::string(method) + "'");
    }
  }
  void* object(const std::type_info& type) override {
    return type == typeid(T) ? &object_ : nullptr;
  }

 private:
  template <class F>
  bool try_entry(const ExposedMethod<F>& entry, std::string_view method, std::string_view signature,
                 Reader& args, Writer& out) {
    if (method != entry.name) return false;
    using Traits = member_function<F>;
    if (signature != Traits::signature()) {
      throw_signature_mismatch(method, Traits::signature(), signature);
    }
    auto values = decode_tuple<typename Traits::args>(args);
    if (args.remaining() != 0) throw TypeError("trailing bytes after the arguments");
    auto invoke = [&] {
      return std::apply([&](auto&&... a) { return (object_.*entry.function)(std::move(a)...); },
                        std::move(values));
    };
    if constexpr (std::is_void_v<typename Traits::result>) {
      if constexpr (ConcurrentReferent<T>) {
        invoke();
      } else {
        std::lock_guard guard(mutex_);
        invoke();
      }
    } else {
      using R = std::decay_t<typename Traits::result>;
      if constexpr (ConcurrentReferent<T>) {
        mp::encode<R>(out, invoke());
      } else {
        std::lock_guard guard(mutex_);
        mp::encode<R>(out, invoke());
      }
    }
    return true;
  }

  std::mutex mutex_;
  T object_;
};

// Builds a T from constructor arguments of types A..., checked against the
// caller's signature. T(ManagerServer&, A...) is preferred when it exists.
template <class T, class... A>
std::unique_ptr<Servant> make_servant(ManagerServer& server, std::string_view signature,
                                      Reader& args) {
  const std::string& expected = call_signature<void, A...>();
  if (signature != expected) {
    throw_signature_mismatch("constructor of " + demangle(typeid(T).name()), expected, signature);
  }
  auto values = decode_tuple<std::tuple<std::decay_t<A>...>>(args);
  if (args.remaining() != 0) throw TypeError("trailing bytes after the arguments");
  return std::apply(
      [&](auto&&... a) -> std::unique_ptr<Servant> {
        if constexpr (std::is_constructible_v<T, ManagerServer&, std::decay_t<A>...>) {
          return std::make_unique<ObjectServant<T>>(server, std::move(a)...);
        } else {
          return std::make_unique<ObjectServant<T>>(std::move(a)...);
        }
      },
      std::move(values));
}

// Registers T under `name` once, at program start, in every process running
// this binary (the built-in proxy types use it: a spawned server knows them).
template <class T, class... A>
struct AutoRegistered {
  static inline const bool registered = [] {
    register_servant(T::type_name(), &make_servant<T, A...>);
    return true;
  }();
};

// What a started server needs: where to listen, the key, and the types
// registered in its parent (by code location: the same binary).
struct ServerConfig {
  std::optional<Address> address;
  std::string authkey;
  std::vector<std::pair<std::string, CodeLocation>> types;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(address, authkey, types);
  }
};

// The server: a listener and the objects, each connection on its thread.
class ManagerServer {
 public:
  // Binds at `address` (a fresh AF_UNIX name when unset).
  ManagerServer(const std::optional<Address>& address, std::string authkey);
  ~ManagerServer();
  ManagerServer(const ManagerServer&) = delete;
  ManagerServer& operator=(const ManagerServer&) = delete;

  Address address() const;
  // Serves until a shutdown request; then ends the process with status 0
  // (Python's serve_forever ends with sys.exit(0)).
  [[noreturn]] void serve_forever();

  // The referent of `id` if it is a T, else nullptr; an unknown id -> mp::KeyError.
  template <class T>
  T* referent(uint64_t id) {
    return static_cast<T*>(find(id).object(typeid(T)));
  }

  // One request's reply: status 0 and the result, 1 and the exception, or 2
  // for a shutdown request (the connection's thread then ends the process).
  // Any bytes are a request: what makes no sense is answered with an
  // exception (//fuzz:manager_fuzzer calls this directly).
  std::string handle(std::string_view request);

 private:
  struct State;
  Servant& find(uint64_t id);
  void serve_connection(Connection connection);

  std::shared_ptr<State> state_;
};

// The body of a started manager's process: registers the parent's types,
// runs `init` (may be empty), binds, reports the address (or the failure)
// on `ready`, and serves.
[[noreturn]] void run_manager_server(Connection ready, ServerConfig config,
                                     const std::function<void()>& init);

inline void manager_server_main(Connection ready, ServerConfig config) {
  run_manager_server(std::move(ready), std::move(config), {});
}

// The same with an initializer, named by location like a Process target.
template <class Fn, class... P>
void manager_server_main_with(Connection ready, ServerConfig config, CodeLocation init, P... args) {
  auto fn = reinterpret_cast<Fn>(const_cast<void*>(resolve_code(init)));
  run_manager_server(std::move(ready), std::move(config), [&] { fn(args...); });
}

}  // namespace mp::internal

#endif  // MP_INTERNAL_MANAGER_MANAGER_CORE_H_
