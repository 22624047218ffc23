// The manager's request protocol from the inside: requests built byte by
// byte and handed to ManagerServer::handle(), then the same over a real
// authenticated connection to a server in a plain fork child. What a reply
// says (its status, its exception's type) is the protocol's contract with
// every proxy; the conformance suites see it only through proxies.

#include "mp/internal/manager/manager_core.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mp/connection.h"
#include "mp/errors.h"
#include "mp/internal/launch/remote_exception.h"
#include "mp/internal/manager/manager_objects.h"
#include "mp/internal/manager/manager_requests.h"
#include "mp/mp.h"

namespace mp::internal {
namespace {

using IntValue = ValueObject<int32_t>;
using List = ListObject<int64_t>;

void register_test_types() {
  static const bool registered = [] {
    register_servant_type<IntValue, int32_t>();
    register_servant_type<List, std::vector<int64_t>>();
    return true;
  }();
  (void)registered;
}

// A reply's status byte; its payload (a result, or an exception rethrown as
// its type) decoded as R.
uint8_t status_of(const std::string& reply) {
  EXPECT_FALSE(reply.empty());
  return reply.empty() ? 0xff : static_cast<uint8_t>(reply[0]);
}

template <class R>
R answer(const std::string& reply) {
  Reader r(reply);
  uint8_t status = r.read_pod<uint8_t>();
  if (status == 1) std::rethrow_exception(decode_exception(r));
  EXPECT_EQ(status, 0);
  R value = mp::decode<R>(r);
  EXPECT_EQ(r.remaining(), 0u) << "bytes after the result";
  return value;
}

class ManagerProtocol : public ::testing::Test {
 protected:
  void SetUp() override { register_test_types(); }

  uint64_t make_value(int32_t initial) {
    return answer<uint64_t>(server_.handle(create_request(IntValue::type_name(), initial)));
  }
  int32_t value_of(uint64_t id) {
    return answer<int32_t>(server_.handle(call_request<decltype(&IntValue::get)>(id, "get")));
  }

  ManagerServer server_{std::nullopt, "protocol key"};
};

TEST_F(ManagerProtocol, CreateAnswersAFreshIdForEachObject) {
  uint64_t a = make_value(5);
  uint64_t b = make_value(6);
  uint64_t c = answer<uint64_t>(
      server_.handle(create_request(List::type_name(), std::vector<int64_t>{1, 2, 3})));
  EXPECT_NE(a, b);
  EXPECT_NE(b, c);
  EXPECT_NE(a, c);
  EXPECT_EQ(value_of(a), 5);
  EXPECT_EQ(value_of(b), 6);
}

TEST_F(ManagerProtocol, CallRunsTheExposedMethodOnItsObject) {
  uint64_t a = make_value(5);
  uint64_t b = make_value(5);
  std::string reply = server_.handle(call_request<decltype(&IntValue::set)>(a, "set", int32_t{7}));
  EXPECT_EQ(status_of(reply), 0);
  EXPECT_EQ(reply.size(), 1u) << "a void method answers the status alone";
  EXPECT_EQ(value_of(a), 7);
  EXPECT_EQ(value_of(b), 5) << "only the addressed object changes";
}

TEST_F(ManagerProtocol, AWrongSignatureIsRefusedBeforeAnyByteIsRead) {
  uint64_t a = make_value(5);
  // set(int64_t) where the object has set(const int32_t&): the same method
  // name, 8 bytes of argument where 4 are expected.
  struct Wide {
    void set(const int64_t&) {}
  };
  std::string reply =
      server_.handle(call_request<decltype(&Wide::set)>(a, "set", int64_t{1} << 40));
  EXPECT_EQ(status_of(reply), 1);
  EXPECT_THROW(answer<int32_t>(reply), mp::TypeError);
  EXPECT_EQ(value_of(a), 5) << "a refused call leaves the object alone";
}

TEST_F(ManagerProtocol, EachMistakeAnswersItsPythonException) {
  uint64_t a = make_value(5);
  // An unexposed method, an unknown object, an unknown type.
  EXPECT_THROW(answer<int32_t>(server_.handle(call_request<decltype(&IntValue::get)>(a, "secret"))),
               mp::AttributeError);
  EXPECT_THROW(
      answer<int32_t>(server_.handle(call_request<decltype(&IntValue::get)>(a + 1000, "get"))),
      mp::KeyError);
  EXPECT_THROW(answer<uint64_t>(server_.handle(create_request("NoSuchType", int32_t{1}))),
               mp::KeyError);
  // A constructor called with the wrong argument types.
  EXPECT_THROW(
      answer<uint64_t>(server_.handle(create_request(IntValue::type_name(), std::string("x")))),
      mp::TypeError);
  // Arguments followed by bytes nobody asked for.
  std::string trailing = call_request<decltype(&IntValue::set)>(a, "set", int32_t{9}) + "junk";
  EXPECT_THROW(answer<int32_t>(server_.handle(trailing)), mp::TypeError);
  EXPECT_EQ(value_of(a), 5);
  // An operation the protocol does not have.
  EXPECT_THROW(answer<int32_t>(server_.handle(bare_request(static_cast<ManagerOp>(99)))),
               mp::ValueError);
}

TEST_F(ManagerProtocol, TruncatedRequestsAreAnsweredNotObeyed) {
  uint64_t a = make_value(5);
  std::string whole = call_request<decltype(&IntValue::set)>(a, "set", int32_t{8});
  for (size_t n = 0; n < whole.size(); ++n) {
    std::string reply = server_.handle(whole.substr(0, n));
    EXPECT_EQ(status_of(reply), 1) << "a request cut to " << n << " bytes";
  }
  EXPECT_EQ(value_of(a), 5);
}

TEST_F(ManagerProtocol, PingAndShutdownHaveTheirOwnStatus) {
  std::string ping = server_.handle(bare_request(ManagerOp::kPing));
  EXPECT_EQ(ping, std::string(1, '\0'));
  // Status 2 tells the connection's thread to end the server after it has
  // answered (the client sees status 0).
  EXPECT_EQ(status_of(server_.handle(bare_request(ManagerOp::kShutdown))), 2);
}

// A server in a plain fork child; the test talks to it as a proxy would.
class ManagerOverAConnection : public ::testing::Test {
 protected:
  void SetUp() override {
    register_test_types();
    auto [reader, writer] = mp::Pipe(false);
    server_pid_ = ::fork();
    ASSERT_GE(server_pid_, 0);
    if (server_pid_ == 0) {
      reader.close();
      try {
        ManagerServer server(std::nullopt, kKey);
        writer.send(server.address());
        server.serve_forever();
      } catch (...) {
      }
      ::_exit(3);
    }
    writer.close();
    address_ = reader.recv<Address>();
  }
  void TearDown() override {
    if (server_pid_ > 0 && !reaped_) {
      ::kill(server_pid_, SIGKILL);
      ::waitpid(server_pid_, nullptr, 0);
    }
  }

  // The server's exit status once it has gone (SIGKILLed after 30 s).
  int wait_for_server() {
    for (int i = 0; i < 3000; ++i) {
      int status = 0;
      pid_t got = ::waitpid(server_pid_, &status, WNOHANG);
      if (got == server_pid_) {
        reaped_ = true;
        return status;
      }
      ::usleep(10'000);
    }
    ADD_FAILURE() << "the server did not exit";
    return -1;
  }

  static constexpr const char* kKey = "connection key";
  pid_t server_pid_ = -1;
  bool reaped_ = false;
  Address address_;
};

TEST_F(ManagerOverAConnection, CallsTravelAndOnlyTheRightKeyGetsIn) {
  auto link = ManagerLink::get(address_, kKey);
  auto request = [](const std::string& bytes) {
    Writer w;
    w.write(bytes.data(), bytes.size());
    return w;
  };
  // transact() answers the reply whole (status 0, then the payload) or
  // throws the remote exception.
  uint64_t id =
      answer<uint64_t>(transact(*link, request(create_request(IntValue::type_name(), 41))));
  transact(*link, request(call_request<decltype(&IntValue::set)>(id, "set", int32_t{42})));
  EXPECT_EQ(
      answer<int32_t>(transact(*link, request(call_request<decltype(&IntValue::get)>(id, "get")))),
      42);
  // A remote exception comes back as its type.
  EXPECT_THROW(transact(*link, request(call_request<decltype(&IntValue::get)>(id, "nope"))),
               mp::AttributeError);

  auto intruder = ManagerLink::get(address_, "a wrong key");
  EXPECT_THROW(transact(*intruder, request(bare_request(ManagerOp::kPing))),
               mp::AuthenticationError);
  forget_connections(*intruder);
  // The server goes on serving the clients that know the key.
  EXPECT_EQ(
      answer<int32_t>(transact(*link, request(call_request<decltype(&IntValue::get)>(id, "get")))),
      42);

  // Shutdown is answered (status 0 alone), then the server ends with status 0.
  EXPECT_EQ(transact(*link, request(bare_request(ManagerOp::kShutdown))), std::string(1, '\0'));
  forget_connections(*link);
  int status = wait_for_server();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace mp::internal

int main(int argc, char** argv) {
  mp::init(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
