// A libFuzzer target over a manager server's handling of a request: the bytes
// a client sends (op, object id, method or type name, signature, arguments).
// The server holds a dict, a list, a namespace and a value; every input is
// one request to it. Whatever the bytes, the server must answer with a
// well-formed reply (status 0 and a result, or status 1 and an exception) and
// go on: never crash, never reinterpret bytes as another type.
//
// Requests that would block the server's thread for good (creating a queue,
// a lock, an event... and waiting on it) are dropped before they reach it:
// blocking is what those objects are for.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_target.h"
#include "mp/internal/manager/manager_core.h"
#include "mp/internal/manager/manager_objects.h"
#include "mp/internal/manager/manager_requests.h"
#include "mp/mp.h"

namespace {

using mp::internal::call_request;
using mp::internal::create_request;
using mp::internal::DictObject;
using mp::internal::ListObject;
using mp::internal::ManagerOp;
using mp::internal::NamespaceObject;
using mp::internal::register_servant_type;
using mp::internal::ValueObject;
using Dict = DictObject<std::string, int64_t>;
using List = ListObject<int64_t>;
using IntValue = ValueObject<int32_t>;

const std::array<std::string, 4>& allowed_types() {
  static const std::array<std::string, 4> types = {
      Dict::type_name(), List::type_name(), NamespaceObject::type_name(), IntValue::type_name()};
  return types;
}

mp::internal::ManagerServer& server() {
  static auto* s = [] {
    register_servant_type<Dict, std::map<std::string, int64_t>>();
    register_servant_type<List, std::vector<int64_t>>();
    register_servant_type<NamespaceObject>();
    register_servant_type<IntValue, int32_t>();
    auto* server = new mp::internal::ManagerServer(std::nullopt, "fuzz key");
    // Objects 1 to 4: a dict, a list, a namespace, a value.
    server->handle(create_request(Dict::type_name(), std::map<std::string, int64_t>{{"a", 1}}));
    server->handle(create_request(List::type_name(), std::vector<int64_t>{1, 2, 3}));
    server->handle(create_request(NamespaceObject::type_name()));
    server->handle(create_request(IntValue::type_name(), int32_t{5}));
    return server;
  }();
  return *s;
}

// Whether the request may reach the server: creations of the four types
// above only.
bool admissible(std::string_view request) {
  try {
    mp::Reader r(request);
    auto op = r.read_pod<ManagerOp>();
    r.read_pod<uint64_t>();
    auto name = r.read_view(mp::internal::get_size(r));
    if (op != ManagerOp::kCreate) return true;
    for (const std::string& t : allowed_types()) {
      if (name == t) return true;
    }
    return false;
  } catch (const mp::PicklingError&) {
    return true;  // the server must refuse it too
  }
}

}  // namespace

namespace mp::fuzz {

std::vector<std::string> seeds() {
  return {
      create_request(Dict::type_name(), std::map<std::string, int64_t>{{"k", 7}}),
      create_request(List::type_name(), std::vector<int64_t>{}),
      create_request(IntValue::type_name(), int32_t{1}),
      call_request<decltype(&Dict::set)>(1, "set", std::string("b"), int64_t{2}),
      call_request<decltype(&Dict::get)>(1, "get", std::string("a")),
      call_request<decltype(&Dict::items)>(1, "items"),
      call_request<decltype(&Dict::update)>(1, "update", std::map<std::string, int64_t>{{"c", 3}}),
      call_request<decltype(&Dict::pop)>(1, "pop", std::string("zz")),
      call_request<decltype(&List::append)>(2, "append", int64_t{4}),
      call_request<decltype(&List::at)>(2, "at", int64_t{-1}),
      call_request<decltype(&List::copy)>(2, "copy"),
      call_request<decltype(&IntValue::get)>(4, "get"),
      call_request<decltype(&IntValue::set)>(4, "set", int32_t{9}),
      call_request<decltype(&Dict::get)>(99, "get", std::string("a")),  // no such object
      call_request<decltype(&List::append)>(1, "append", int64_t{4}),   // wrong type
      std::string(1, static_cast<char>(ManagerOp::kPing)) + std::string(24, '\0'),
  };
}

}  // namespace mp::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view request(reinterpret_cast<const char*>(data), size);
  if (!admissible(request)) return 0;
  std::string reply = server().handle(request);
  // Status 0 (a result follows), 1 (an exception follows), or 2 (shutdown:
  // the connection's thread ends the process after answering).
  if (reply.empty() || static_cast<uint8_t>(reply[0]) > 2) {
    mp::fuzz::finding("manager_fuzzer", "a reply without a status");
  }
  if (reply[0] == 1) {
    mp::Reader r(std::string_view(reply).substr(1));
    try {
      mp::internal::decode_exception(r);
    } catch (...) {
      mp::fuzz::finding("manager_fuzzer", "an exception reply that does not decode");
    }
  }
  return 0;
}
