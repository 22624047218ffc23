// Requests to a manager server built by hand, as a client would send them:
// for tests and the fuzzer that drive ManagerServer::handle() directly.

#ifndef MP_INTERNAL_MANAGER_MANAGER_REQUESTS_H_
#define MP_INTERNAL_MANAGER_MANAGER_REQUESTS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "mp/internal/manager/manager_core.h"
#include "mp/reduction.h"

namespace mp::internal {

// Lets a server create objects of T, built from arguments A....
template <class T, class... A>
void register_servant_type() {
  register_servant(T::type_name(), &make_servant<T, A...>);
}

// A creation request for `type` with constructor arguments `args`.
template <class... A>
std::string create_request(std::string_view type, const A&... args) {
  Writer w;
  begin_request(w, ManagerOp::kCreate, 0, type, call_signature<void, A...>());
  (mp::encode(w, args), ...);
  return std::move(w.bytes());
}

// A call of the member function F, exposed as `method`, on object `id`.
template <class F, class... A>
std::string call_request(uint64_t id, std::string_view method, const A&... args) {
  Writer w;
  begin_request(w, ManagerOp::kCall, id, method, member_function<F>::signature());
  (mp::encode(w, args), ...);
  return std::move(w.bytes());
}

// A request with no object and no arguments: ping, shutdown.
inline std::string bare_request(ManagerOp op) {
  Writer w;
  begin_request(w, op, 0, "", "");
  return std::move(w.bytes());
}

}  // namespace mp::internal

#endif  // MP_INTERNAL_MANAGER_MANAGER_REQUESTS_H_
