// conformance/suites/manager_suite.h — managers and their proxies (CPython:
// _TestContainers, _TestMyManager, _TestRemoteManager, ...; rows `manager.*`
// of the manager type), and mp's own tests of remote managers, server death
// and malformed requests. SyncManager's types used from children are in
// sync_manager_suite.h.
//
// Instantiated for the manager implementation only; children start under its
// context and receive proxies by value.

#ifndef MP_CONFORMANCE_SUITES_MANAGER_SUITE_H_
#define MP_CONFORMANCE_SUITES_MANAGER_SUITE_H_

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "mp/mp.h"
#include "suites/sync_manager_suite.h"
#include "testing/conformance.h"

namespace mp::conformance {

template <class Impl>
class ManagerSuite : public ConformanceTest {};
TYPED_TEST_SUITE_P(ManagerSuite);

namespace manager_children {

using namespace std::chrono_literals;

// A registered type (CPython's FooBar): f and g exposed, h not; g throws.
struct Foo {
  std::string f() { return "f()"; }
  std::string g() { throw mp::ValueError("g() failed on purpose"); }
  std::string h() { return "h()"; }
  static constexpr auto exposed() {
    return std::make_tuple(mp::exposed("f", &Foo::f), mp::exposed("g", &Foo::g));
  }
};

// A registered type with constructor arguments and state.
struct Tally {
  explicit Tally(int64_t start) : total(start) {}
  int64_t add(int64_t n) { return total += n; }
  int64_t get() const { return total; }
  static constexpr auto exposed() {
    return std::make_tuple(mp::exposed("add", &Tally::add), mp::exposed("get", &Tally::get));
  }
  int64_t total;
};

// A separate process that finds the manager and the queue by address, key
// and object id alone (CPython's client registering get_queue).
inline void remote_putter(mp::Address address, std::string key, uint64_t queue_id,
                          mp::Connection out) {
  mp::SyncManager m({.address = address, .authkey = key});
  m.connect();
  auto q = m.proxy<mp::QueueProxy<std::tuple<std::string, int, double>>>(queue_id);
  q.put({"hello world", 7, 2.5});
  out.send(std::string());
}

inline void remote_wrong_key(mp::Address address, mp::Connection out) {
  mp::SyncManager m({.address = address, .authkey = std::string("not the key")});
  try {
    m.connect();
    out.send(std::string("connected with a wrong key"));
  } catch (const mp::AuthenticationError&) {
    out.send(std::string());
  }
}

inline void tally_hammer(mp::BaseProxy tally, mp::DictProxy<int64_t, int64_t> seen, int64_t who,
                         mp::Connection out) {
  for (int64_t i = 0; i < 200; ++i) {
    tally.call<int64_t>("add", int64_t{1});
    seen.set(who * 1000 + i, i);
  }
  out.send(std::string());
}

// Starts a manager, reports its server's pid, then waits to be killed, or
// (`exit_at_once`) leaves by std::exit without shutting the manager down.
inline void manager_owner(mp::Connection out, mp::Connection gate, bool exit_at_once) {
  static std::optional<mp::Manager> m;  // std::exit runs no destructor of it
  m.emplace();
  out.send(static_cast<int>(*m->process().pid()));
  if (exit_at_once) std::exit(0);
  Gate::wait(std::move(gate));
}

}  // namespace manager_children

using namespace std::chrono_literals;

TYPED_TEST_P(ManagerSuite, ApiPageExample) {
  mp_id("mp.manager.api_page");
  // The calls of API.md's Managers section, as written there.
  mp::Manager m(TypeParam::context());
  auto d = m.dict<std::string, int>();
  d.set("a", 1);
  int a = d.get("a");
  EXPECT_EQ(a, 1);
  EXPECT_THROW(d.get("zz"), mp::KeyError);
  EXPECT_TRUE(d.contains("a"));
  EXPECT_EQ(d.pop("a"), 1);
  EXPECT_EQ(d.size(), 0u);
  auto other = m.dict<std::string, int>({{"b", 2}});
  d.update(other);
  EXPECT_EQ(d.keys(), std::vector<std::string>{"b"});
  EXPECT_EQ(d.items().size(), 1u);
  std::map<std::string, int> copy = d.copy();
  EXPECT_EQ(copy.at("b"), 2);
  d.clear();
  auto l = m.list<int>();
  l.append(1);
  l.extend({2, 3});
  int i0 = l.at(0);
  EXPECT_EQ(i0, 1);
  l.set(0, 9);
  EXPECT_EQ(l.pop(), 3);
  l.insert(0, 4);
  EXPECT_EQ(l.size(), 3u);
  EXPECT_EQ(l.copy(), (std::vector<int>{4, 9, 2}));
  auto ns = m.Namespace();
  ns.set("x", 3);
  int x = ns.get<int>("x");
  EXPECT_EQ(x, 3);
  auto mv = m.Value<int>(0);
  auto ma = m.Array<double>(8);
  EXPECT_EQ(mv.get(), 0);
  EXPECT_EQ(ma.size(), 8u);
  auto mq = m.Queue<int>();
  auto ml = m.Lock();
  auto me = m.Event();
  mq.put(1);
  EXPECT_EQ(mq.get(), 1);
  EXPECT_TRUE(ml.acquire());
  ml.release();
  me.set();
  EXPECT_TRUE(me.is_set());
  m.RLock();
  m.Semaphore();
  m.BoundedSemaphore();
  m.Condition();
  m.Barrier(2);
  m.JoinableQueue<int>();
  m.shutdown();
}

TYPED_TEST_P(ManagerSuite, ListProxyOperations) {
  cpython_id("manager.list_proxy_ops,manager.list_proxy_mutablesequence,manager.list_proxy_iter");
  auto& m = TypeParam::manager();
  auto a = m.template list<int>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  EXPECT_EQ(a.copy(), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(a.slice(0, 10), a.copy()) << "a[:]";
  auto b = m.template list<int>();
  EXPECT_EQ(b.size(), 0u);
  b.extend({0, 1, 2, 3, 4});
  EXPECT_EQ(b.at(2), 2);
  EXPECT_EQ(b.slice(2, 10), (std::vector<int>{2, 3, 4})) << "slices clamp";
  b.repeat(2);
  EXPECT_EQ(b.copy(), (std::vector<int>{0, 1, 2, 3, 4, 0, 1, 2, 3, 4})) << "b *= 2, in place";
  auto plus = b.copy();
  plus.insert(plus.end(), {5, 6});
  EXPECT_EQ(plus.size(), 12u) << "b + [5, 6] is a plain list";
  EXPECT_EQ(b.size(), 10u) << "and b is unchanged";
  EXPECT_EQ(b.at(-1), 4) << "negative indexes count from the end";
  EXPECT_THROW(b.at(10), mp::IndexError);
  EXPECT_THROW(b.at(-11), mp::IndexError);
  EXPECT_THROW(b.set(10, 0), mp::IndexError);
  EXPECT_EQ(b.index(3), 3u);
  EXPECT_THROW(b.index(99), mp::ValueError);
  EXPECT_THROW(b.remove(99), mp::ValueError);
  b.remove(0);
  EXPECT_EQ(b.at(0), 1) << "remove() takes the first occurrence";
  b.insert(-100, 42);
  EXPECT_EQ(b.at(0), 42) << "insert clamps as Python's";
  b.erase(0);
  EXPECT_EQ(b.count(4), 2u);
  // Reading by index goes to the server each time, so it sees later writes
  // (CPython's iteration through __getitem__).
  a.set(0, 100);
  EXPECT_EQ(a.at(0), 100);
  auto empty = m.template list<int>();
  EXPECT_THROW(empty.pop(), mp::IndexError);
  // A list of proxies yields proxies that see later changes.
  auto e = m.template list<int>();
  auto f = m.template list<mp::ListProxy<int>>({e});
  e.append(7);
  EXPECT_EQ(f.at(0).copy(), std::vector<int>{7});
}

TYPED_TEST_P(ManagerSuite, NestedListProxies) {
  cpython_id("manager.nested_list_proxies");
  auto& m = TypeParam::manager();
  auto a = m.template list<mp::ListProxy<int>>();
  for (int i = 0; i < 3; ++i) a.append(m.template list<int>({0, 1, 2}));
  a.at(0).set(-1, 55);
  EXPECT_EQ(a.at(0).copy(), (std::vector<int>{0, 1, 55}));
  EXPECT_EQ(a.at(1).copy(), (std::vector<int>{0, 1, 2})) << "only the first changed";
  EXPECT_EQ(a.at(1).pop(), 2);
  EXPECT_EQ(a.at(1).size(), 2u);
  EXPECT_EQ(a.at(2).size(), 3u);
  // A list that holds itself.
  auto b = m.template list<mp::BaseProxy>();
  b.append(b);
  EXPECT_EQ(b.at(0), static_cast<const mp::BaseProxy&>(b));
  EXPECT_EQ(b.at(0).template call<uint64_t>("size"), 1u);
}

TYPED_TEST_P(ManagerSuite, DictProxyOperations) {
  cpython_id("manager.dict_proxy_ops,manager.dict_proxy_mutablemapping,manager.dict_proxy_iter");
  auto& m = TypeParam::manager();
  auto d = m.template dict<int, char>();
  std::map<int, char> expected;
  for (int i = 65; i < 70; ++i) {
    d.set(i, static_cast<char>(i));
    expected[i] = static_cast<char>(i);
  }
  EXPECT_EQ(d.copy(), expected);
  EXPECT_EQ(d.keys(), (std::vector<int>{65, 66, 67, 68, 69}));
  EXPECT_EQ(d.values(), (std::vector<char>{'A', 'B', 'C', 'D', 'E'}));
  EXPECT_EQ(d.items().front(), (std::pair<int, char>{65, 'A'}));
  EXPECT_EQ(d.size(), 5u);
  EXPECT_TRUE(d.contains(65));
  EXPECT_FALSE(d.contains(64));
  EXPECT_THROW(d.get(64), mp::KeyError);
  EXPECT_THROW(d.erase(64), mp::KeyError);
  EXPECT_THROW(d.pop(64), mp::KeyError);
  EXPECT_EQ(d.pop(64, 'z'), 'z');
  d.erase(65);
  EXPECT_EQ(d.size(), 4u);
  d.clear();
  EXPECT_EQ(d.size(), 0u);
  EXPECT_THROW(d.popitem(), mp::KeyError);
}

TYPED_TEST_P(ManagerSuite, NestedDictProxies) {
  cpython_id("manager.nested_dict_proxies");
  auto& m = TypeParam::manager();
  using Inner = mp::DictProxy<std::string, int>;
  auto outer = m.template dict<std::string, Inner>();
  auto inner = m.template dict<std::string, int>();
  outer.set("inner", inner);
  inner.set("x", 1);
  EXPECT_EQ(outer.get("inner").get("x"), 1)
      << "a change through the referent shows through the container";
  outer.get("inner").set("y", 2);
  EXPECT_EQ(inner.get("y"), 2) << "and the other way";
  {
    auto local = outer.get("inner");
    local.set("z", 3);
  }  // the local proxy is gone; the referent is not
  EXPECT_EQ(inner.get("z"), 3);
  outer.clear();
  EXPECT_EQ(inner.size(), 3u) << "clearing the container leaves a separately held proxy intact";
  auto list_of_dicts = m.template list<Inner>({inner});
  EXPECT_EQ(list_of_dicts.at(0).get("x"), 1);
  auto plain = m.template list<std::vector<int>>({{1, 2, 3}});
  EXPECT_EQ(plain.at(0), (std::vector<int>{1, 2, 3})) << "a plain nested list comes back as a list";
}

TYPED_TEST_P(ManagerSuite, QueueProxyInContainers) {
  cpython_id("manager.queue_proxy_in_containers");
  auto& m = TypeParam::manager();
  auto q = m.template Queue<int>();
  auto l = m.template list<mp::QueueProxy<int>>({q});
  l.at(0).put(123);
  EXPECT_EQ(q.get(), 123);
  auto d = m.template dict<int, mp::QueueProxy<int>>({{0, q}});
  d.get(0).put(456);
  EXPECT_EQ(q.get(), 456);
}

TYPED_TEST_P(ManagerSuite, LargeValuesTravel) {
  mp_id("mp.manager.large_values");
  auto& m = TypeParam::manager();
  auto d = m.template dict<int, std::string>();
  const std::string big(3 << 20, 'x');  // larger than a channel's ring: goes by the socket
  d.set(1, big);
  d.set(2, "small");
  EXPECT_EQ(d.get(1), big);
  EXPECT_EQ(d.get(2), "small") << "and the channel goes on after a large message";
  auto [reader, writer] = TypeParam::Pipe(false);
  auto p = TypeParam::Process(
      +[](mp::DictProxy<int, std::string> dict, mp::Connection out) {
        out.send(dict.get(1).size());
      },
      d, writer);
  p.start();
  writer.close();
  EXPECT_EQ(reader.template recv<size_t>(), big.size());
  p.join();
}

TYPED_TEST_P(ManagerSuite, ContainersRefuseHandles) {
  mp_id("mp.manager.no_descriptors_in_containers");
  auto& m = TypeParam::manager();
  auto l = m.template list<mp::Lock>();
  EXPECT_THROW(l.append(mp::Lock()), mp::PicklingError)
      << "an mp::Lock travels as a descriptor, which a manager cannot keep";
  EXPECT_EQ(l.size(), 0u);
}

// Custom managers -----------------------------------------------------------------------

TYPED_TEST_P(ManagerSuite, CustomManagerStartAndShutdown) {
  cpython_id("manager.custom_manager_start_shutdown");
  mp::BaseManager::register_type<mc::Foo>("Foo");
  // A generous wait for the server's own exit: CPython's test accepts
  // -SIGTERM too, from its 1 s default on a slow machine; mp's test asks the
  // stronger thing, that the server ends by itself on request.
  mp::BaseManager m(TypeParam::context(), {.shutdown_timeout = 30s});
  m.start();
  EXPECT_THROW(m.start(), mp::ProcessError) << "Already started server";
  auto foo = m.create("Foo");
  EXPECT_EQ(foo.template call<std::string>("f"), "f()");
  EXPECT_THROW(foo.template call<std::string>("g"), mp::ValueError)
      << "g's exception comes back by type";
  EXPECT_THROW(foo.template call<std::string>("h"), mp::AttributeError) << "h is not exposed";
  EXPECT_THROW(foo.template call<std::string>("f", 1), mp::TypeError) << "f takes no argument";
  EXPECT_THROW(foo.template call<int>("f"), mp::TypeError) << "f returns a string";
  EXPECT_THROW(m.create("NoSuchType"), mp::KeyError);
  auto process = m.process();
  m.shutdown();
  EXPECT_FALSE(process.is_alive());
  EXPECT_EQ(process.exitcode(), 0);
  EXPECT_THROW(m.start(), mp::ProcessError) << "start() after shutdown()";
  EXPECT_ANY_THROW(foo.template call<std::string>("f")) << "the server is gone";
}

TYPED_TEST_P(ManagerSuite, CustomManagerAsScope) {
  cpython_id("manager.custom_manager_context,manager.custom_manager_prestarted_context");
  mp::BaseManager::register_type<mc::Tally, int64_t>("Tally");
  std::optional<mp::Process> server;
  {
    mp::BaseManager m(TypeParam::context(), {.shutdown_timeout = 30s});  // as above
    m.start();
    server = m.process();
    auto tally = m.create("Tally", int64_t{40});
    EXPECT_EQ(tally.template call<int64_t>("add", int64_t{2}), 42);
    EXPECT_THROW(m.create("Tally", 40), mp::TypeError) << "the constructor takes an int64_t";
  }  // the scope's end shuts the server down
  EXPECT_FALSE(server->is_alive());
  EXPECT_EQ(server->exitcode(), 0) << "the server stopped on request";
}

// Remote managers -----------------------------------------------------------------------

TYPED_TEST_P(ManagerSuite, RemoteManagerOverTcp) {
  cpython_id("manager.remote_xmlrpc");
  mp_id("mp.manager.remote_tcp_right_and_wrong_key");
  using Item = std::tuple<std::string, int, double>;
  const std::string key = mc::random_key();
  mp::SyncManager server(TypeParam::context(),
                         {.address = mp::TcpAddress{"127.0.0.1", 0}, .authkey = key});
  server.start();
  auto address = server.address();
  ASSERT_TRUE(std::holds_alternative<mp::TcpAddress>(address));
  EXPECT_NE(std::get<mp::TcpAddress>(address).port, 0);
  auto q = server.template Queue<Item>();
  expect_child_passes<TypeParam>(&mc::remote_putter, address, key, q.id());
  EXPECT_EQ(q.get(5s), (Item{"hello world", 7, 2.5}));
  expect_child_passes<TypeParam>(&mc::remote_wrong_key, address);
  server.shutdown();
}

TYPED_TEST_P(ManagerSuite, ServerRunInAProcessOfOurOwn) {
  mp_id("mp.manager.serve_forever");
  // get_server().serve_forever() in a child; a client connects, uses it, and
  // asks it to stop, which ends that process with status 0.
  const std::string key = mc::random_key();
  auto [reader, writer] = TypeParam::Pipe(false);
  auto p = TypeParam::Process(
      +[](std::string k, mp::Connection out) {
        mp::BaseManager::register_type<mc::Tally, int64_t>("Tally");  // the serving program's types
        mp::BaseManager m({.address = mp::TcpAddress{"127.0.0.1", 0}, .authkey = k});
        mp::Server server = m.get_server();
        out.send(server.address());
        server.serve_forever();
      },
      key, writer);
  p.start();
  writer.close();
  auto address = reader.template recv<mp::Address>();
  mp::BaseManager client({.address = address, .authkey = key});
  client.connect();
  auto tally = client.create("Tally", int64_t{1});
  EXPECT_EQ(tally.template call<int64_t>("add", int64_t{1}), 2);
  client.shutdown();
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
}

TYPED_TEST_P(ManagerSuite, AnotherBinaryCallsByName) {
  mp_id("mp.manager.remote_other_binary");
  mp::BaseManager::register_type<mc::Tally, int64_t>("Tally");
  const std::string key = "a key the peer is given";
  mp::BaseManager m(TypeParam::context(),
                    {.address = mp::TcpAddress{"127.0.0.1", 0}, .authkey = key});
  m.start();
  auto port = std::to_string(std::get<mp::TcpAddress>(m.address()).port);
  Ran ran = run_program({"conformance/manager_peer_main", "127.0.0.1", port, key});
  EXPECT_TRUE(WIFEXITED(ran.status) && WEXITSTATUS(ran.status) == 0) << ran.err;
  EXPECT_EQ(ran.out, "sum 42\ntype error\nattribute error\nauthentication error\n");
  m.shutdown();
}

// Failure -------------------------------------------------------------------------------

TYPED_TEST_P(ManagerSuite, ServerDeathFailsCallsPromptly) {
  mp_id("mp.manager.server_death");
  mp::SyncManager m(TypeParam::context());
  m.start();
  auto q = m.template Queue<int>();
  auto d = m.template dict<int, int>();
  d.set(1, 1);
  // A call waiting in the server when it dies fails at once. The waiter
  // connects first (a call that returns), then calls get(): whether the
  // kill lands before or after its request reaches the server, the waiter is
  // then waiting for a reply that cannot come.
  std::promise<void> connected;
  std::optional<std::string> blocked_outcome;
  std::thread waiter([&] {
    try {
      q.qsize();
      connected.set_value();
      q.get();
      blocked_outcome = "returned";
    } catch (const mp::EOFError&) {
      blocked_outcome = "EOFError";
    } catch (const std::exception& e) {
      blocked_outcome = std::string("other: ") + e.what();
    }
  });
  connected.get_future().wait();
  Stopwatch clock;
  m.process().kill();
  m.process().join();
  waiter.join();
  EXPECT_LT(clock.elapsed().count(), 10.0) << "no hang";
  ASSERT_TRUE(blocked_outcome.has_value());
  EXPECT_EQ(*blocked_outcome, "EOFError");
  // Later calls fail at once too.
  EXPECT_THROW(d.get(1), std::exception);
  EXPECT_THROW(d.get(1), std::system_error) << "nobody listens any more";
  m.shutdown();
}

TYPED_TEST_P(ManagerSuite, ShutdownMakesProxiesFail) {
  mp_id("mp.manager.shutdown_then_error");
  mp::Manager m(TypeParam::context());
  auto l = m.template list<int>({1});
  m.shutdown();
  EXPECT_THROW(l.at(0), std::system_error);
  EXPECT_THROW(m.template list<int>(), mp::ValueError) << "creating through a shut-down manager";
  EXPECT_NO_THROW(m.shutdown()) << "twice is fine";
}

TYPED_TEST_P(ManagerSuite, NoServerOutlivesItsOwner) {
  mp_id("mp.manager.killed_owner");
  for (bool exit_at_once : {false, true}) {
    auto [reader, writer] = TypeParam::Pipe(false);
    Gate gate;
    auto owner = TypeParam::Process(&mc::manager_owner, writer, gate.child_end, exit_at_once);
    owner.start();
    writer.close();
    const int server_pid = reader.template recv<int>();
    if (!exit_at_once) owner.kill();
    owner.join();
    EXPECT_TRUE(wait_process_gone(server_pid, 30s))
        << (exit_at_once ? "the server outlived an owner that exited without shutdown()"
                         : "the server outlived its SIGKILLed owner");
  }
}

TYPED_TEST_P(ManagerSuite, MalformedRequestsHurtNobodyElse) {
  mp_id("mp.manager.malformed_request");
  auto& m = TypeParam::manager();
  auto d = m.template dict<std::string, int>();
  d.set("a", 1);
  // A raw, authenticated client sends garbage.
  mp::Connection raw = mp::Client(d.address(), {.authkey = mp::current_process().authkey()});
  mp::internal::send_hello(raw);  // requests on this socket
  raw.send_bytes("\x01garbage");
  std::string reply = raw.recv_bytes();
  ASSERT_FALSE(reply.empty());
  EXPECT_EQ(reply[0], 1) << "an error reply, not a crash";
  raw.send_bytes(std::string(3, '\xff'));
  EXPECT_EQ(raw.recv_bytes()[0], 1);
  // A connection whose first message is no hello is dropped, alone.
  mp::Connection rude = mp::Client(d.address(), {.authkey = mp::current_process().authkey()});
  rude.send_bytes("junk");
  EXPECT_THROW(rude.recv_bytes(), mp::EOFError);
  // A wrong method, wrong argument types, an unknown object.
  EXPECT_THROW(d.template call<int>("no_such_method"), mp::AttributeError);
  EXPECT_THROW(d.template call<int>("get", 7), mp::TypeError);
  EXPECT_THROW(d.template call<int>("get", std::string("a"), 1), mp::TypeError);
  mp::BaseProxy stranger(d.link(), 1u << 30);
  EXPECT_THROW(stranger.call("size"), mp::KeyError);
  // Everyone else goes on.
  EXPECT_EQ(d.get("a"), 1);
  EXPECT_EQ(d.template call<int>("get", std::string("a")), 1)
      << "call by name with the right types";
}

TYPED_TEST_P(ManagerSuite, ManyClientsAtOnce) {
  mp_id("mp.manager.many_clients");
  mp::BaseManager::register_type<mc::Tally, int64_t>("Tally");
  mp::SyncManager m(TypeParam::context());  // started after the registration, so it knows Tally
  m.start();
  auto tally = m.create("Tally", int64_t{0});
  auto seen = m.template dict<int64_t, int64_t>();
  std::vector<mp::Connection> readers;
  std::vector<mp::Process> children;
  for (int64_t who = 0; who < 4; ++who) {
    auto [reader, writer] = TypeParam::Pipe(false);
    children.push_back(TypeParam::Process(&mc::tally_hammer, tally, seen, who, writer));
    children.back().start();
    readers.push_back(reader);
  }
  for (auto& r : readers) EXPECT_EQ(r.template recv<std::string>(), "");
  for (auto& c : children) c.join();
  EXPECT_EQ(tally.template call<int64_t>("get"), 800) << "calls to one object are serialized";
  EXPECT_EQ(seen.size(), 800u);
  m.shutdown();
}

REGISTER_TYPED_TEST_SUITE_P(ManagerSuite, ApiPageExample, ListProxyOperations, NestedListProxies,
                            DictProxyOperations, NestedDictProxies, QueueProxyInContainers,
                            LargeValuesTravel, ContainersRefuseHandles,
                            CustomManagerStartAndShutdown, CustomManagerAsScope,
                            RemoteManagerOverTcp, ServerRunInAProcessOfOurOwn,
                            AnotherBinaryCallsByName, ServerDeathFailsCallsPromptly,
                            ShutdownMakesProxiesFail, NoServerOutlivesItsOwner,
                            MalformedRequestsHurtNobodyElse, ManyClientsAtOnce);

#undef MP_CHILD_CHECK

}  // namespace mp::conformance

#endif  // MP_CONFORMANCE_SUITES_MANAGER_SUITE_H_
