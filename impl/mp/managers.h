// mp/managers.h — a server process that owns objects, and proxies that call
// them from any process (Python: multiprocessing.managers).
//
//   mp::Manager m;                                  // starts the server process
//   auto d = m.dict<std::string, int>();            // a DictProxy
//   d.set("a", 1);  int a = d.get("a");  d.get("zz");  // -> mp::KeyError
//   auto q = m.Queue<int>();  auto l = m.Lock();    // pass them to children by value
//   auto pool = m.Pool(4);  pool.map(&square, xs);  // a Pool in the server (PoolProxy)
//   m.shutdown();                                   // the destructor does it too
//
// Custom types, as BaseManager.register:
//   struct Counter {
//     int add(int n) { return total += n; }
//     static constexpr auto exposed() { return std::make_tuple(mp::exposed("add", &Counter::add));
//     } int total = 0;
//   };
//   mp::BaseManager::register_type<Counter>("Counter");
//   mp::BaseManager m({.address = mp::TcpAddress{"127.0.0.1", 0}, .authkey = "key"});
//   m.start();
//   mp::BaseProxy c = m.create("Counter");  c.call<int>("add", 5);
//   // another process, even another binary that registered "Counter":
//   mp::BaseManager peer({.address = address, .authkey = "key"});  peer.connect();
//
// Every call is a request on a connection of the calling thread and a reply
// from the server thread serving that connection (one per client thread, as in
// CPython), so a blocking call blocks only its caller.
//
// Errors: what the referent's method throws comes back as its type (std and
// mp types; others as mp::RemoteError); an unknown method -> mp::AttributeError;
// argument or result types other than the method's -> mp::TypeError (checked
// by type name before anything is decoded); an unknown object type ->
// mp::KeyError. A server that goes away while a call waits -> mp::EOFError; one
// that is gone when a call connects -> std::system_error (ECONNREFUSED). A
// wrong authkey -> mp::AuthenticationError.
//
// Differences from CPython: the server keeps every object it created until it
// shuts down (no reference counting); a proxy encodes the manager's address
// and authkey, so send proxies only to processes you would give the key;
// values cross as mp::Codec encodings, and descriptors (Connection, Lock...)
// cannot be stored in a manager's containers (mp::PicklingError): store
// proxies instead.

#ifndef MP_MANAGERS_H_
#define MP_MANAGERS_H_

#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "mp/connection.h"
#include "mp/context.h"
#include "mp/errors.h"
#include "mp/internal/manager/manager_core.h"
#include "mp/internal/manager/manager_objects.h"
#include "mp/internal/manager/manager_pool.h"
#include "mp/pool.h"
#include "mp/process.h"
#include "mp/reduction.h"
#include "mp/shared_memory.h"

namespace mp {

// Names a method a registered type exposes to proxies (Python: `exposed`).
template <class F>
constexpr internal::ExposedMethod<F> exposed(const char* name, F member_function) {
  return {name, member_function};
}

namespace internal {
// What an argument travels as: string literals as std::string.
template <class A>
using wire_t = std::conditional_t<std::is_convertible_v<const A&, std::string_view> &&
                                      !std::is_same_v<std::decay_t<A>, std::string> &&
                                      std::is_pointer_v<std::decay_t<A>>,
                                  std::string, std::decay_t<A>>;
}  // namespace internal

// A reference to an object in a manager's server (Python: BaseProxy). Copies
// refer to the same object; so does the copy a child receives.
class BaseProxy {
 public:
  BaseProxy() = default;
  BaseProxy(std::shared_ptr<const internal::ManagerLink> link, uint64_t id)
      : link_(std::move(link)), id_(id) {}

  // Calls the referent's exposed method `method` with `args`, expecting an R
  // back. Python: _callmethod(method, args). The argument types must be the
  // method's parameter types (after decay; string literals count as
  // std::string), else mp::TypeError.
  template <class R = void, class... A>
  R call(std::string_view method, const A&... args) const {
    Writer w;
    internal::begin_request(w, internal::ManagerOp::kCall, id(), method,
                            internal::call_signature<R, internal::wire_t<A>...>());
    (mp::encode<internal::wire_t<A>>(w, internal::wire_t<A>(args)), ...);
    std::string reply = internal::transact(*link_, w);
    if constexpr (!std::is_void_v<R>) {
      Reader r(std::string_view(reply).substr(1));
      return mp::decode<R>(r);
    }
  }

  // The referent's id in its server (Python: _id). An empty proxy -> mp::ValueError.
  uint64_t id() const {
    if (!link_) throw ValueError("an empty proxy refers to nothing");
    return id_;
  }
  // Where its manager listens.
  const Address& address() const {
    if (!link_) throw ValueError("an empty proxy refers to nothing");
    return link_->address;
  }
  const std::shared_ptr<const internal::ManagerLink>& link() const noexcept { return link_; }
  // Python's proxy repr: "<BaseProxy object, typeid '?' at 0x2a>" (the id in hex).
  std::string repr() const { return repr_as("BaseProxy", "?"); }

  friend bool operator==(const BaseProxy& a, const BaseProxy& b) noexcept {
    return a.link_ == b.link_ && a.id_ == b.id_;
  }

 protected:
  std::string repr_as(std::string_view proxy, std::string_view type_id) const {
    char hex[32];
    std::snprintf(hex, sizeof(hex), "0x%llx", static_cast<unsigned long long>(id_));
    return "<" + std::string(proxy) + " object, typeid '" + std::string(type_id) + "' at " + hex +
           ">";
  }

 private:
  std::shared_ptr<const internal::ManagerLink> link_;
  uint64_t id_ = 0;
};

// Proxies travel as their manager's address, key and object id.
template <class P>
  requires std::derived_from<P, BaseProxy>
struct Codec<P> {
  static void encode(Writer& w, const P& proxy) {
    mp::encode(w, proxy.address());
    mp::encode(w, proxy.link()->authkey);
    w.write_pod<uint64_t>(proxy.id());
  }
  static P decode(Reader& r) {
    auto address = mp::decode<Address>(r);
    auto authkey = mp::decode<std::string>(r);
    auto id = r.read_pod<uint64_t>();
    return P(internal::ManagerLink::get(address, authkey), id);
  }
};

// dict<K, V> (Python: DictProxy). Keys are kept in key order (std::map).
template <class K, class V>
class DictProxy : public BaseProxy {
 public:
  using BaseProxy::BaseProxy;
  std::string repr() const { return repr_as("DictProxy", "dict"); }
  // d[key]; a missing key -> mp::KeyError.
  V get(const K& key) const { return call<V>("get", key); }
  // d.get(key, fallback).
  V get(const K& key, const V& fallback) const { return call<V>("get_or", key, fallback); }
  // d[key] = value.
  void set(const K& key, const V& value) const { call("set", key, value); }
  bool contains(const K& key) const { return call<bool>("contains", key); }
  // del d[key]; a missing key -> mp::KeyError.
  void erase(const K& key) const { call("erase", key); }
  V pop(const K& key) const { return call<V>("pop", key); }
  V pop(const K& key, const V& fallback) const { return call<V>("pop_or", key, fallback); }
  // The last item by key order; empty -> mp::KeyError.
  std::pair<K, V> popitem() const { return call<std::pair<K, V>>("popitem"); }
  V setdefault(const K& key, const V& fallback) const {
    return call<V>("setdefault", key, fallback);
  }
  size_t size() const { return call<uint64_t>("size"); }
  std::vector<K> keys() const { return call<std::vector<K>>("keys"); }
  std::vector<V> values() const { return call<std::vector<V>>("values"); }
  std::vector<std::pair<K, V>> items() const { return call<std::vector<std::pair<K, V>>>("items"); }
  void update(const std::map<K, V>& other) const { call("update", other); }
  void update(const DictProxy& other) const { update(other.copy()); }
  void clear() const { call("clear"); }
  std::map<K, V> copy() const { return call<std::map<K, V>>("copy"); }
};

// list<T> (Python: ListProxy). Indexes follow Python: negative ones count
// from the end; out of range -> mp::IndexError.
template <class T>
class ListProxy : public BaseProxy {
 public:
  using BaseProxy::BaseProxy;
  std::string repr() const { return repr_as("ListProxy", "list"); }
  void append(const T& item) const { call("append", item); }
  void extend(const std::vector<T>& items) const { call("extend", items); }
  void extend(std::initializer_list<T> items) const { extend(std::vector<T>(items)); }
  // l[index].
  T at(int64_t index) const { return call<T>("at", index); }
  // l[index] = item.
  void set(int64_t index, const T& item) const { call("set", index, item); }
  // del l[index].
  void erase(int64_t index) const { call("erase", index); }
  T pop(int64_t index = -1) const { return call<T>("pop", index); }
  void insert(int64_t index, const T& item) const { call("insert", index, item); }
  size_t size() const { return call<uint64_t>("size"); }
  std::vector<T> copy() const { return call<std::vector<T>>("copy"); }
  // l[begin:end], with Python's clamping.
  std::vector<T> slice(int64_t begin, int64_t end) const {
    return call<std::vector<T>>("slice", begin, end);
  }
  size_t count(const T& item) const { return call<uint64_t>("count", item); }
  // The first position of item; absent -> mp::ValueError.
  size_t index(const T& item) const { return call<uint64_t>("index", item); }
  void remove(const T& item) const { call("remove", item); }
  void reverse() const { call("reverse"); }
  void sort() const { call("sort"); }
  void clear() const { call("clear"); }
  // l *= times (in place, as Python's).
  void repeat(int64_t times) const { call("repeat", times); }
};

// set<T> (Python 3.14's SetProxy). The operators with a std::set give a
// std::set (Python's `proxy | set` is a plain set); the compound ones change
// the referent in place.
template <class T>
class SetProxy : public BaseProxy {
 public:
  using Set = std::set<T>;
  using BaseProxy::BaseProxy;
  std::string repr() const { return repr_as("SetProxy", "set"); }
  void add(const T& item) const { call("add", item); }
  // Absent -> mp::KeyError.
  void remove(const T& item) const { call("remove", item); }
  void discard(const T& item) const { call("discard", item); }
  // Some item (the smallest); empty -> mp::KeyError.
  T pop() const { return call<T>("pop"); }
  bool contains(const T& item) const { return call<bool>("contains", item); }
  size_t size() const { return call<uint64_t>("size"); }
  Set copy() const { return call<Set>("copy"); }
  void clear() const { call("clear"); }
  void update(const Set& other) const { call("update", other); }
  void intersection_update(const Set& other) const { call("intersection_update", other); }
  void difference_update(const Set& other) const { call("difference_update", other); }
  void symmetric_difference_update(const Set& other) const {
    call("symmetric_difference_update", other);
  }
  // Python: union (a C++ keyword).
  Set set_union(const Set& other) const { return call<Set>("union", other); }
  Set intersection(const Set& other) const { return call<Set>("intersection", other); }
  Set difference(const Set& other) const { return call<Set>("difference", other); }
  Set symmetric_difference(const Set& other) const {
    return call<Set>("symmetric_difference", other);
  }
  bool isdisjoint(const Set& other) const { return call<bool>("isdisjoint", other); }
  bool issubset(const Set& other) const { return call<bool>("issubset", other); }
  bool issuperset(const Set& other) const { return call<bool>("issuperset", other); }

  friend Set operator|(const SetProxy& a, const Set& b) { return a.set_union(b); }
  friend Set operator|(const Set& a, const SetProxy& b) { return b.set_union(a); }
  friend Set operator&(const SetProxy& a, const Set& b) { return a.intersection(b); }
  friend Set operator&(const Set& a, const SetProxy& b) { return b.intersection(a); }
  friend Set operator^(const SetProxy& a, const Set& b) { return a.symmetric_difference(b); }
  friend Set operator^(const Set& a, const SetProxy& b) { return b.symmetric_difference(a); }
  friend Set operator-(const SetProxy& a, const Set& b) { return a.difference(b); }
  friend Set operator-(const Set& a, const SetProxy& b) {
    Set out;
    Set theirs = b.copy();
    std::set_difference(a.begin(), a.end(), theirs.begin(), theirs.end(),
                        std::inserter(out, out.end()));
    return out;
  }
  const SetProxy& operator|=(const Set& other) const {
    update(other);
    return *this;
  }
  const SetProxy& operator&=(const Set& other) const {
    intersection_update(other);
    return *this;
  }
  const SetProxy& operator^=(const Set& other) const {
    symmetric_difference_update(other);
    return *this;
  }
  const SetProxy& operator-=(const Set& other) const {
    difference_update(other);
    return *this;
  }
};

// Namespace: named attributes of any Transferable type. get<T> of a name set
// as another type -> mp::TypeError; an unset name -> mp::AttributeError.
class NamespaceProxy : public BaseProxy {
 public:
  using BaseProxy::BaseProxy;
  std::string repr() const { return repr_as("NamespaceProxy", "Namespace"); }
  template <class T>
  void set(const std::string& name, const T& value) const {
    call("set", name, std::string(typeid(T).name()), std::string(mp::dumps(value).bytes()));
  }
  template <class T>
  T get(const std::string& name) const {
    auto [type, bytes] = call<std::pair<std::string, std::string>>("get", name);
    if (type != typeid(T).name()) {
      throw TypeError("attribute '" + name + "' is a " + internal::demangle(type.c_str()) +
                      ", not a " + internal::demangle(typeid(T).name()));
    }
    Reader r(bytes);
    return mp::decode<T>(r);
  }
  bool contains(const std::string& name) const { return call<bool>("contains", name); }
  // delattr(ns, name).
  void erase(const std::string& name) const { call("erase", name); }
  std::vector<std::string> names() const { return call<std::vector<std::string>>("names"); }
};

// Value<T> (Python: ValueProxy): get(), set(), and value() as .value; and
// mp::Value's value() / set_value(), so code written for one compiles for the
// other. Each call is one request, which the server runs alone: a
// read-modify-write needs a manager Lock around it (mp::Value's raw() and
// get_lock() reach memory a proxy does not have).
template <class T>
class ValueProxy : public BaseProxy {
 public:
  using value_type = T;
  using BaseProxy::BaseProxy;
  std::string repr() const { return repr_as("ValueProxy", "Value"); }
  T get() const { return call<T>("get"); }
  T value() const { return get(); }
  void set(const T& value) const { call("set", value); }
  void set_value(const T& value) const { set(value); }
};

// Array<T> (Python: ArrayProxy), with mp::Array's calls that copy: get/set
// one element, slice/set_slice/assign, to_vector. Python's negative indexes
// count from the end; slices clamp as Python's do. mp::Array's references
// into its memory (operator[], at() as a reference, span(), begin()) have
// no counterpart here: take a copy with to_vector() or slice().
template <class T>
class ArrayProxy : public BaseProxy {
 public:
  using value_type = T;
  using BaseProxy::BaseProxy;
  std::string repr() const { return repr_as("ArrayProxy", "Array"); }
  T get(int64_t index) const { return call<T>("at", index); }
  // The element, copied (a proxy has no reference to give).
  const T at(int64_t index) const { return get(index); }
  void set(int64_t index, const T& item) const { call("set", index, item); }
  size_t size() const { return call<uint64_t>("size"); }
  bool empty() const { return size() == 0; }
  // a[start:stop].
  std::vector<T> slice(int64_t start, int64_t stop) const {
    return call<std::vector<T>>("slice", start, stop);
  }
  // a[start:stop] = items: as many items as the slice holds, else
  // mp::ValueError and nothing written.
  template <std::ranges::input_range R>
    requires std::convertible_to<std::ranges::range_reference_t<R>, T>
  void set_slice(int64_t start, int64_t stop, const R& items) const {
    call("set_slice", start, stop,
         std::vector<T>(std::ranges::begin(items), std::ranges::end(items)));
  }
  void set_slice(int64_t start, int64_t stop, std::initializer_list<T> items) const {
    call("set_slice", start, stop, std::vector<T>(items));
  }
  // a[:] = items.
  template <std::ranges::input_range R>
    requires std::convertible_to<std::ranges::range_reference_t<R>, T>
  void assign(const R& items) const {
    set_slice(0, std::numeric_limits<int64_t>::max(), items);
  }
  void assign(std::initializer_list<T> items) const {
    set_slice(0, std::numeric_limits<int64_t>::max(), items);
  }
  // list(a).
  std::vector<T> to_vector() const { return call<std::vector<T>>("copy"); }
  std::vector<T> copy() const { return to_vector(); }
};

// acquire()'s overloads for the lock-like proxies, as the primitives have them.
class AcquirerProxy : public BaseProxy {
 public:
  using BaseProxy::BaseProxy;
  bool acquire(bool block = true) const {
    return call<bool>("acquire", block, internal::WireTimeout());
  }
  template <class Rep, class Period>
  bool acquire(std::chrono::duration<Rep, Period> timeout) const {
    return call<bool>("acquire", true, internal::to_wire(timeout));
  }
  template <class Rep, class Period>
  bool acquire(bool block, std::chrono::duration<Rep, Period> timeout) const {
    return call<bool>("acquire", block, internal::to_wire(timeout));
  }
  void release() const { call("release"); }
  // std Lockable and TimedLockable.
  void lock() const { acquire(); }
  void unlock() const { release(); }
  bool try_lock() const { return acquire(false); }
  template <class Rep, class Period>
  bool try_lock_for(std::chrono::duration<Rep, Period> timeout) const {
    return acquire(timeout);
  }
  template <class C, class D>
  bool try_lock_until(std::chrono::time_point<C, D> t) const {
    return acquire(t - C::now());
  }
};

// threading.Lock (kReentrant false) or RLock in the server. Releasing a Lock
// nobody holds, or an RLock the caller does not hold -> mp::RuntimeError. An
// RLock's owner is the calling thread (it has its own connection).
template <bool kReentrant>
class LockProxyOf : public AcquirerProxy {
 public:
  using AcquirerProxy::AcquirerProxy;
  std::string repr() const { return repr_as("AcquirerProxy", kReentrant ? "RLock" : "Lock"); }
  bool locked() const { return this->template call<bool>("locked"); }
  // A manager's lock cannot be taken over from a dead holder: it is held by
  // the server on behalf of the holder, so this is always false.
  bool acquired_from_dead_holder() const noexcept { return false; }
};
using LockProxy = LockProxyOf<false>;
using RLockProxy = LockProxyOf<true>;

// threading.Semaphore (kBounded false) or BoundedSemaphore in the server. A
// BoundedSemaphore released past its initial value -> mp::ValueError.
template <bool kBounded>
class SemaphoreProxyOf : public AcquirerProxy {
 public:
  using AcquirerProxy::AcquirerProxy;
  std::string repr() const {
    return repr_as("AcquirerProxy", kBounded ? "BoundedSemaphore" : "Semaphore");
  }
  int get_value() const { return static_cast<int>(this->template call<int64_t>("get_value")); }
  // Python 3.14's locked(): whether an acquire() would block now.
  bool locked() const { return get_value() == 0; }
};
using SemaphoreProxy = SemaphoreProxyOf<false>;
using BoundedSemaphoreProxy = SemaphoreProxyOf<true>;

// threading.Condition in the server. wait()/notify() without holding its
// lock -> mp::RuntimeError. wait_for's predicate runs here, in the caller.
class ConditionProxy : public AcquirerProxy {
 public:
  using AcquirerProxy::AcquirerProxy;
  std::string repr() const { return repr_as("ConditionProxy", "Condition"); }
  bool wait() const { return call<bool>("wait", internal::WireTimeout()); }
  template <class Rep, class Period>
  bool wait(std::chrono::duration<Rep, Period> timeout) const {
    return call<bool>("wait", internal::to_wire(timeout));
  }
  template <class Predicate>
  bool wait_for(Predicate predicate) const {
    return internal::wait_for_predicate(
        predicate, [this](const internal::Deadline&) { wait(); }, std::nullopt);
  }
  template <class Predicate, class Rep, class Period>
  bool wait_for(Predicate predicate, std::chrono::duration<Rep, Period> timeout) const {
    return internal::wait_for_predicate(
        predicate,
        [this](const internal::Deadline& d) {
          wait(std::max(*d - internal::Clock::now(), internal::Clock::duration::zero()));
        },
        internal::deadline_after(timeout));
  }
  void notify(int n = 1) const { call("notify", int64_t{n}); }
  void notify_all() const { call("notify_all"); }
};

class EventProxy : public BaseProxy {
 public:
  using BaseProxy::BaseProxy;
  std::string repr() const { return repr_as("EventProxy", "Event"); }
  void set() const { call("set"); }
  void clear() const { call("clear"); }
  bool is_set() const { return call<bool>("is_set"); }
  bool wait() const { return call<bool>("wait", internal::WireTimeout()); }
  template <class Rep, class Period>
  bool wait(std::chrono::duration<Rep, Period> timeout) const {
    return call<bool>("wait", internal::to_wire(timeout));
  }
};

// threading.Barrier in the server (without an action). A broken one ->
// mp::BrokenBarrierError.
class BarrierProxy : public BaseProxy {
 public:
  using BaseProxy::BaseProxy;
  std::string repr() const { return repr_as("BarrierProxy", "Barrier"); }
  int wait() const { return static_cast<int>(call<int64_t>("wait", internal::WireTimeout())); }
  template <class Rep, class Period>
  int wait(std::chrono::duration<Rep, Period> timeout) const {
    return static_cast<int>(call<int64_t>("wait", internal::to_wire(timeout)));
  }
  void reset() const { call("reset"); }
  void abort() const { call("abort"); }
  int parties() const { return static_cast<int>(call<int64_t>("parties")); }
  int n_waiting() const { return static_cast<int>(call<int64_t>("n_waiting")); }
  bool broken() const { return call<bool>("broken"); }
};

// queue.Queue in the server: put/get with Python's block and timeout rules
// (mp::Full, mp::Empty).
template <class T>
class QueueProxy : public BaseProxy {
 public:
  using BaseProxy::BaseProxy;
  std::string repr() const { return repr_as("AutoProxy[Queue]", "Queue"); }
  void put(const T& item, bool block = true) const {
    call("put", item, block, internal::WireTimeout());
  }
  template <class Rep, class Period>
  void put(const T& item, std::chrono::duration<Rep, Period> timeout) const {
    call("put", item, true, internal::to_wire(timeout));
  }
  template <class Rep, class Period>
  void put(const T& item, bool block, std::chrono::duration<Rep, Period> timeout) const {
    call("put", item, block, internal::to_wire(timeout));
  }
  void put_nowait(const T& item) const { put(item, false); }
  // put_nowait without the exception: false when full (an mp extension).
  bool try_put(const T& item) const {
    try {
      put_nowait(item);
      return true;
    } catch (const Full&) {
      return false;
    }
  }
  T get(bool block = true) const { return call<T>("get", block, internal::WireTimeout()); }
  template <class Rep, class Period>
  T get(std::chrono::duration<Rep, Period> timeout) const {
    return call<T>("get", true, internal::to_wire(timeout));
  }
  template <class Rep, class Period>
  T get(bool block, std::chrono::duration<Rep, Period> timeout) const {
    return call<T>("get", block, internal::to_wire(timeout));
  }
  T get_nowait() const { return get(false); }
  // get_nowait without the exception: nullopt when empty (an mp extension).
  std::optional<T> try_get() const {
    try {
      return get_nowait();
    } catch (const Empty&) {
      return std::nullopt;
    }
  }
  size_t qsize() const { return call<uint64_t>("qsize"); }
  bool empty() const { return call<bool>("empty"); }
  bool full() const { return call<bool>("full"); }
};

// JoinableQueue: task_done() (too many -> mp::ValueError) and join().
template <class T>
class JoinableQueueProxy : public QueueProxy<T> {
 public:
  using QueueProxy<T>::QueueProxy;
  std::string repr() const { return this->repr_as("AutoProxy[JoinableQueue]", "JoinableQueue"); }
  void task_done() const { this->call("task_done"); }
  void join() const { this->call("join"); }
};

namespace internal {

// A PoolProxy's side in one process: the thread that waits for its async
// results (it runs while some are pending, so an idle proxy costs none),
// and, for the proxy a manager's Pool() returned, the duty to terminate the
// pool when the last copy of it in this process goes (Python: the `with`
// block, or the proxy's last reference).
class PoolClient {
 public:
  // Called once with the job's chunks, or with its exception.
  using Done = std::function<void(std::vector<std::string>* chunks, std::exception_ptr error)>;

  PoolClient(BaseProxy pool, bool owner);
  ~PoolClient();
  PoolClient(const PoolClient&) = delete;
  PoolClient& operator=(const PoolClient&) = delete;

  // This client's token in the server (asked for once).
  uint64_t token();
  // The pool's size (asked for once).
  int processes();
  // Calls `done` when `job` (submitted under token()) ends.
  void watch(uint64_t job, Done done);

 private:
  struct Waiting;  // what the thread shares with the client, and outlives it with

  BaseProxy pool_;
  const bool owner_;
  const pid_t pid_;
  std::shared_ptr<Waiting> w_;
};

// The results a pool chunk's bytes hold: a count, then the items.
template <class R>
void decode_chunk(const std::string& chunk, std::vector<R>& out) {
  Reader r(chunk);
  const auto n = r.read_pod<uint32_t>();
  for (uint32_t i = 0; i < n; ++i) out.push_back(Codec<R>::decode(r));
}

template <class R>
std::vector<R> decode_chunks(const std::vector<std::string>& chunks) {
  std::vector<R> out;
  for (const std::string& chunk : chunks) decode_chunk(chunk, out);
  return out;
}

}  // namespace internal

// Python: the IteratorProxy a PoolProxy's imap and imap_unordered return. A
// single-pass range, as mp::IMapIterator: the input is read as far as a
// bounded number of chunks in flight needs, and an exception from a task or
// from the input is thrown where its position is reached.
template <class R>
class IMapProxyIterator {
  struct State;

 public:
  using iterator = internal::PullIterator<IMapProxyIterator, R>;

  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() const noexcept { return {}; }
  // The next result, or nullopt at the end (Python: next() and StopIteration).
  std::optional<R> next() { return s_->next(); }

 private:
  friend class PoolProxy;

  struct State {
    BaseProxy pool;
    uint64_t job = 0;
    bool ordered = true;
    std::function<void(Writer&)> pull;               // the input, a chunk at a time (chunk_puller)
    uint32_t submitted = 0, yielded = 0, limit = 0;  // chunks
    bool input_done = false;
    std::exception_ptr input_error;
    std::vector<R> buffer;  // the current chunk's results
    size_t at = 0;          // in buffer
    bool finished = false;

    ~State() {
      try {
        if (job != 0) pool.call("drop", job);
      } catch (...) {
      }
    }

    void top_up() {
      std::vector<std::string> batch;
      while (!input_done && submitted + batch.size() - yielded < limit) {
        try {
          Writer w;
          pull(w);
          batch.push_back(std::move(w.bytes()));
        } catch (const internal::EndOfInput&) {
          input_done = true;
        } catch (...) {
          // The chunk being read is dropped; those before it are delivered,
          // then this is raised.
          input_error = std::current_exception();
          input_done = true;
        }
      }
      if (batch.empty()) return;
      pool.call("add", job, batch);
      submitted += static_cast<uint32_t>(batch.size());
    }

    std::optional<R> next() {
      while (!finished) {
        if (at < buffer.size()) return std::move(buffer[at++]);
        top_up();
        if (yielded == submitted) {
          finished = true;
          if (input_error) std::rethrow_exception(std::exchange(input_error, nullptr));
          break;
        }
        std::pair<uint32_t, std::string> got;
        try {
          got = pool.call<std::pair<uint32_t, std::string>>("take", job, ordered, yielded);
        } catch (...) {
          ++yielded;  // the chunk's exception, thrown at its place
          throw;
        }
        ++yielded;
        buffer.clear();
        at = 0;
        internal::decode_chunk(got.second, buffer);
      }
      return std::nullopt;
    }
  };

  explicit IMapProxyIterator(std::shared_ptr<State> s) : s_(std::move(s)) {}
  std::shared_ptr<State> s_;
};

// Python: the Pool a SyncManager hosts (PoolProxy). The pool and its workers
// live in the manager's server (workers of the server's start method); the
// calls are mp::Pool's, with its argument rules: tasks are free functions or
// captureless lambdas (named by where their code lives, so the server's
// workers find them: the server runs the same program), arguments and
// results travel through mp::Codec. A task's exception reaches the caller
// with its type (std and mp types; others as mp::RemoteError). Async results
// are mp::AsyncResult: callbacks run on a thread of the calling process.
//
// The pool is terminated by terminate(), when the manager shuts down, or
// when the last copy of the proxy Pool() returned goes from the process
// that called it (as mp::Pool's destructor: terminate() and join()).
// Copies sent to other processes use the same pool and do not keep it: they
// fail with mp::ValueError (or the manager's connection errors) once it is
// gone. Beyond CPython's PoolProxy: processes(), worker_pids(), and
// task_timeout; no initializer (mp::ValueError).
class PoolProxy : public BaseProxy {
 public:
  PoolProxy() = default;
  // A copy of a proxy received from another process: uses the pool, does not own it.
  PoolProxy(std::shared_ptr<const internal::ManagerLink> link, uint64_t id)
      : PoolProxy(std::move(link), id, false) {}
  std::string repr() const { return repr_as("PoolProxy", "Pool"); }

  // Python: map(func, iterable, chunksize=None).
  template <class F, class Range>
  auto map(F f, Range&& xs, std::optional<int> chunksize = std::nullopt) const {
    using Fn = internal::fn_ptr_t<F>;
    static_assert(internal::function_traits<Fn>::arity == 1,
                  "map() takes a function of one argument");
    using Arg = std::tuple_element_t<0, typename internal::function_traits<Fn>::args>;
    return run<Fn, Arg, false>(+f, std::forward<Range>(xs), chunksize);
  }
  template <class F, class Range>
  auto starmap(F f, Range&& xs, std::optional<int> chunksize = std::nullopt) const {
    using Fn = internal::fn_ptr_t<F>;
    return run<Fn, typename internal::function_traits<Fn>::args, true>(+f, std::forward<Range>(xs),
                                                                       chunksize);
  }
  template <class F, class Range>
  AsyncResult<std::vector<internal::pool_result_t<F>>> map_async(
      F f, Range&& xs,
      const AsyncOptions<std::vector<internal::pool_result_t<F>>>& options = {}) const {
    using Fn = internal::fn_ptr_t<F>;
    static_assert(internal::function_traits<Fn>::arity == 1,
                  "map() takes a function of one argument");
    using Arg = std::tuple_element_t<0, typename internal::function_traits<Fn>::args>;
    return submit<Fn, Arg, false>(+f, std::forward<Range>(xs), options);
  }
  template <class F, class Range>
  AsyncResult<std::vector<internal::pool_result_t<F>>> starmap_async(
      F f, Range&& xs,
      const AsyncOptions<std::vector<internal::pool_result_t<F>>>& options = {}) const {
    using Fn = internal::fn_ptr_t<F>;
    return submit<Fn, typename internal::function_traits<Fn>::args, true>(
        +f, std::forward<Range>(xs), options);
  }

  // Python: apply(func, args).
  template <class F, class... A>
    requires internal::FunctionPointerLike<std::decay_t<F>>
  internal::pool_result_t<F> apply(F f, A&&... args) const {
    using Fn = internal::fn_ptr_t<F>;
    using R = internal::pool_result_t<F>;
    static_assert(!std::is_void_v<R>, "pool tasks return a value");
    auto chunks = call<std::vector<std::string>>(
        "run", internal::code_prefix<Fn, typename internal::function_traits<Fn>::args, true>(+f),
        std::vector<std::string>{apply_chunk<Fn>(std::forward<A>(args)...)});
    auto values = internal::decode_chunks<R>(chunks);
    if (values.size() != 1) throw PicklingError("an apply's result does not fit its call");
    return std::move(values[0]);
  }
  template <class F, class... A>
    requires internal::FunctionPointerLike<std::decay_t<F>>
  AsyncResult<internal::pool_result_t<F>> apply_async(F f, A&&... args) const {
    return apply_async(AsyncOptions<internal::pool_result_t<F>>{}, f, std::forward<A>(args)...);
  }
  // With callback / error_callback: apply_async({.callback = ...}, &f, args...).
  template <class F, class... A>
    requires internal::FunctionPointerLike<std::decay_t<F>>
  AsyncResult<internal::pool_result_t<F>> apply_async(
      const AsyncOptions<internal::pool_result_t<F>>& options, F f, A&&... args) const {
    using Fn = internal::fn_ptr_t<F>;
    using R = internal::pool_result_t<F>;
    static_assert(!std::is_void_v<R>, "pool tasks return a value");
    auto state = make_state(options);
    watch(
        internal::code_prefix<Fn, typename internal::function_traits<Fn>::args, true>(+f),
        {apply_chunk<Fn>(std::forward<A>(args)...)},
        [state](std::vector<std::string>& chunks) {
          auto values = internal::decode_chunks<R>(chunks);
          if (values.size() != 1) throw PicklingError("an apply's result does not fit its call");
          state->set_value(std::move(values[0]));
        },
        state);
    return AsyncResult<R>(state);
  }

  // Python: imap(func, iterable, chunksize=1); results in input order.
  template <class F, class Range>
  IMapProxyIterator<internal::pool_result_t<F>> imap(F f, Range&& xs, int chunksize = 1) const {
    return make_imap<F>(f, std::forward<Range>(xs), chunksize, true);
  }
  // Python: imap_unordered(func, iterable, chunksize=1); results as they come.
  template <class F, class Range>
  IMapProxyIterator<internal::pool_result_t<F>> imap_unordered(F f, Range&& xs,
                                                               int chunksize = 1) const {
    return make_imap<F>(f, std::forward<Range>(xs), chunksize, false);
  }

  // Python: close(), terminate(), join() (before close/terminate -> mp::ValueError).
  void close() const { call("close"); }
  void terminate() const { call("terminate"); }
  void join() const { call("join"); }
  // mp: the size of the pool, and the pids of its live workers.
  int processes() const { return client().processes(); }
  std::vector<pid_t> worker_pids() const {
    auto pids = call<std::vector<int64_t>>("worker_pids");
    return std::vector<pid_t>(pids.begin(), pids.end());
  }

 private:
  friend class SyncManager;
  PoolProxy(std::shared_ptr<const internal::ManagerLink> link, uint64_t id, bool owner)
      : BaseProxy(link, id),
        client_(std::make_shared<internal::PoolClient>(BaseProxy(link, id), owner)) {}

  internal::PoolClient& client() const {
    if (!client_) throw ValueError("an empty proxy refers to nothing");
    return *client_;
  }

  template <class Fn, class... A>
  static std::string apply_chunk(A&&... args) {
    using Arg = typename internal::function_traits<Fn>::args;
    Arg packed(std::forward<A>(args)...);
    Writer w;
    w.write_pod<uint32_t>(1);
    Codec<Arg>::encode(w, packed);
    return std::move(w.bytes());
  }

  // The chunks of a map of `xs` (Python reads all of the input first).
  template <class Arg, class Range>
  std::vector<std::string> map_chunks(Range&& xs, std::optional<int> chunksize) const {
    if constexpr (!std::ranges::sized_range<Range>) {
      std::vector<std::ranges::range_value_t<Range>> all;
      for (auto&& x : xs) all.push_back(x);
      return map_chunks<Arg>(all, chunksize);
    } else {
      if (chunksize && *chunksize < 1) {
        throw ValueError("Chunksize must be 1+, not " + std::to_string(*chunksize));
      }
      const size_t n = std::ranges::size(xs);
      if (n == 0) return {};
      size_t each;
      if (chunksize) {
        each = static_cast<size_t>(*chunksize);
      } else {
        const size_t parts = size_t{4} * static_cast<size_t>(client().processes());
        each = (n + parts - 1) / parts;
      }
      std::vector<std::string> chunks;
      auto it = std::ranges::begin(xs);
      for (size_t start = 0; start < n; start += each) {
        const size_t k = std::min(each, n - start);
        Writer w;
        w.write_pod(static_cast<uint32_t>(k));
        for (size_t i = 0; i < k; ++i, ++it) internal::encode_arg<Arg>(w, *it);
        chunks.push_back(std::move(w.bytes()));
      }
      return chunks;
    }
  }

  template <class Fn, class Arg, bool kStar, class Range>
  auto run(Fn fn, Range&& xs, std::optional<int> chunksize) const {
    using R = typename internal::function_traits<Fn>::result;
    static_assert(!std::is_void_v<R>, "pool tasks return a value");
    auto chunks = map_chunks<Arg>(std::forward<Range>(xs), chunksize);
    return internal::decode_chunks<R>(
        call<std::vector<std::string>>("run", internal::code_prefix<Fn, Arg, kStar>(fn), chunks));
  }

  template <class T>
  static std::shared_ptr<internal::ResultState<T>> make_state(const AsyncOptions<T>& options) {
    auto state = std::make_shared<internal::ResultState<T>>();
    state->callback = options.callback;
    state->error_callback = options.error_callback;
    return state;
  }

  // Submits a job under this process's token and has `deliver` (or, if it
  // throws, the error) fill `state` when it ends.
  template <class T, class Deliver>
  void watch(const std::string& prefix, const std::vector<std::string>& chunks, Deliver deliver,
             std::shared_ptr<internal::ResultState<T>> state) const {
    internal::PoolClient& c = client();
    const uint64_t job = call<uint64_t>("submit", prefix, chunks, c.token());
    internal::PoolClient::Done done = [deliver, state](std::vector<std::string>* chunks,
                                                       std::exception_ptr error) {
      if (!error) {
        try {
          deliver(*chunks);
          return;
        } catch (...) {
          error = std::current_exception();
        }
      }
      state->set_error(error);
    };
    if (job == 0) {
      std::vector<std::string> none;
      done(&none, nullptr);
    } else {
      c.watch(job, std::move(done));
    }
  }

  template <class Fn, class Arg, bool kStar, class Range>
  auto submit(Fn fn, Range&& xs,
              const AsyncOptions<std::vector<typename internal::function_traits<Fn>::result>>&
                  options) const {
    using R = typename internal::function_traits<Fn>::result;
    static_assert(!std::is_void_v<R>, "pool tasks return a value");
    auto chunks = map_chunks<Arg>(std::forward<Range>(xs), options.chunksize);
    auto state = make_state(options);
    watch(
        internal::code_prefix<Fn, Arg, kStar>(fn), chunks,
        [state](std::vector<std::string>& chunks) {
          state->set_value(internal::decode_chunks<R>(chunks));
        },
        state);
    return AsyncResult<std::vector<R>>(state);
  }

  template <class F, class Range>
  IMapProxyIterator<internal::pool_result_t<F>> make_imap(F f, Range&& xs, int chunksize,
                                                          bool ordered) const {
    using Fn = internal::fn_ptr_t<F>;
    using R = internal::pool_result_t<F>;
    static_assert(internal::function_traits<Fn>::arity == 1,
                  "imap() takes a function of one argument");
    using Arg = std::tuple_element_t<0, typename internal::function_traits<Fn>::args>;
    if (chunksize < 1) throw ValueError("Chunksize must be 1+, not " + std::to_string(chunksize));
    using State = typename IMapProxyIterator<R>::State;
    auto s = std::make_shared<State>();
    s->pool = *this;
    s->ordered = ordered;
    // As mp::Pool: enough chunks in flight to keep every worker busy, and
    // no more.
    const auto per = static_cast<uint32_t>(std::max(1, 4096 / chunksize));
    s->limit = std::max<uint32_t>(8u * static_cast<uint32_t>(client().processes()), per);
    s->pull = internal::chunk_puller<Arg>(std::forward<Range>(xs), chunksize);
    s->job = call<uint64_t>("open_stream", internal::code_prefix<Fn, Arg, false>(+f));
    return IMapProxyIterator<R>(std::move(s));
  }

  std::shared_ptr<internal::PoolClient> client_;
};

struct ManagerOptions {
  // Where the server listens: by default a fresh AF_UNIX (abstract) address.
  std::optional<Address> address;
  // The key clients must prove; by default this process's authkey.
  std::optional<std::string> authkey;
  // How long shutdown() waits for the server before terminating it.
  std::chrono::milliseconds shutdown_timeout{1000};
};

// A server run in this process (Python: BaseManager.get_server()).
class Server {
 public:
  explicit Server(std::unique_ptr<internal::ManagerServer> server) : server_(std::move(server)) {}
  Address address() const { return server_->address(); }
  // Serves until a client asks for shutdown, then ends this process with status 0.
  [[noreturn]] void serve_forever() { server_->serve_forever(); }

 private:
  std::unique_ptr<internal::ManagerServer> server_;
};

// Python: multiprocessing.managers.BaseManager. Not started on construction.
class BaseManager {
 public:
  BaseManager() : BaseManager(ManagerOptions{}) {}
  explicit BaseManager(const ManagerOptions& options);
  explicit BaseManager(Context& ctx, const ManagerOptions& options = {});
  BaseManager(BaseManager&&) noexcept;
  BaseManager& operator=(BaseManager&&) noexcept;
  // Shuts the server down if this object started it (Python's `with manager:`).
  virtual ~BaseManager();

  // Python: BaseManager.register(typeid, callable). Servers started after
  // this, and servers run in this process, can create a T (constructed from
  // arguments of types A...) under `type_name`. T lists its methods in
  // `static constexpr auto exposed()` (a tuple of mp::exposed(...)); calls to
  // one T are serialized unless T defines `static constexpr bool kConcurrent
  // = true`.
  template <class T, class... A>
  static void register_type(const std::string& type_name) {
    internal::register_servant(type_name, &internal::make_servant<T, A...>);
  }

  // Starts the server process (daemonic: it dies with this process). Twice, or
  // after shutdown() -> mp::ProcessError.
  void start();
  // The same, running initializer(args...) in the server process first.
  template <class F, class... A>
  void start(F initializer, A... args) {
    static_assert(internal::FunctionPointerLike<F>, "the initializer must be a function");
    auto fn = +initializer;
    using Fn = decltype(fn);
    start_with([&](Context& ctx, const ProcessOptions& options, Connection ready,
                   internal::ServerConfig config) {
      return Process(ctx, options, &internal::manager_server_main_with<Fn, std::decay_t<A>...>,
                     std::move(ready), std::move(config),
                     internal::locate_code(reinterpret_cast<const void*>(fn)), args...);
    });
  }
  // Uses a server that is already running at options.address (Python:
  // connect()). Nobody there -> std::system_error; a wrong key ->
  // mp::AuthenticationError.
  void connect();
  // Asks the server to stop and, if this object started it, waits
  // shutdown_timeout for it, then terminates it. Afterwards proxies' calls fail
  // (std::system_error or mp::EOFError). A second call does nothing.
  void shutdown();
  // A server bound at options.address in this process, to serve_forever().
  Server get_server() const;

  // Where the server listens. Before start()/connect() -> mp::ValueError.
  Address address() const;
  // The server process (started here). Otherwise -> mp::ValueError.
  Process process() const;

  // A P proxy for the existing object `id` of this manager (Python: a
  // registered callable that returns a shared object). A wrong id fails on
  // the first call with mp::KeyError; a wrong P with mp::TypeError.
  template <class P = BaseProxy>
  P proxy(uint64_t id) const {
    return P(link(), id);
  }

  // Creates a `type_name` object in the server from `args` and returns a P
  // proxy for it. Python: the method register() adds to the manager class.
  template <class P = BaseProxy, class... A>
  P create(const std::string& type_name, const A&... args) {
    return P(link(),
             create_id(type_name, internal::call_signature<void, internal::wire_t<A>...>(),
                       [&](Writer& w) { (mp::encode(w, internal::wire_t<A>(args)), ...); }));
  }

 protected:
  // Creates a built-in object (registered by AutoRegistered in every process).
  template <class P, class Object, class... A>
  P create_builtin(const A&... args) {
    (void)internal::AutoRegistered<Object, A...>::registered;
    return P(link(), create_id(Object::type_name(), internal::call_signature<void, A...>(),
                               [&](Writer& w) { (mp::encode(w, args), ...); }));
  }

 private:
  using Launcher =
      std::function<Process(Context&, const ProcessOptions&, Connection, internal::ServerConfig)>;
  void start_with(const Launcher& launch);
  const std::shared_ptr<const internal::ManagerLink>& link() const;
  uint64_t create_id(const std::string& type_name, const std::string& signature,
                     const std::function<void(Writer&)>& encode_args);

  enum class State { kInitial, kStarted, kConnected, kShutdown };
  Context* ctx_;
  ManagerOptions options_;
  State state_ = State::kInitial;
  std::shared_ptr<const internal::ManagerLink> link_;
  std::optional<Process> process_;
};

// Python: SyncManager. The built-in types; not started on construction.
class SyncManager : public BaseManager {
 public:
  using BaseManager::BaseManager;

  template <class K, class V>
  DictProxy<K, V> dict(const std::map<K, V>& init = {}) {
    return create_builtin<DictProxy<K, V>, internal::DictObject<K, V>>(init);
  }
  template <class T>
  ListProxy<T> list(const std::vector<T>& init = {}) {
    return create_builtin<ListProxy<T>, internal::ListObject<T>>(init);
  }
  // A set of the items of any range (a std::set, a vector, a map's keys()).
  template <class T>
  SetProxy<T> set(const std::set<T>& init = {}) {
    return create_builtin<SetProxy<T>, internal::SetObject<T>>(init);
  }
  template <class T>
  SetProxy<T> set(const std::vector<T>& items) {
    return set<T>(std::set<T>(items.begin(), items.end()));
  }
  NamespaceProxy Namespace();
  template <class T>
  ValueProxy<T> Value(const T& value = T{}) {
    return create_builtin<ValueProxy<T>, internal::ValueObject<T>>(value);
  }
  // A zero-filled array of `size` elements, or a copy of `items`.
  template <class T>
  ArrayProxy<T> Array(size_t size) {
    return Array<T>(std::vector<T>(size));
  }
  template <class T>
  ArrayProxy<T> Array(const std::vector<T>& items) {
    return create_builtin<ArrayProxy<T>, internal::ArrayObject<T>>(items);
  }
  template <class T>
  QueueProxy<T> Queue(int maxsize = 0) {
    return create_builtin<QueueProxy<T>, internal::QueueObject<T>>(int64_t{maxsize});
  }
  template <class T>
  JoinableQueueProxy<T> JoinableQueue(int maxsize = 0) {
    return create_builtin<JoinableQueueProxy<T>, internal::QueueObject<T>>(int64_t{maxsize});
  }
  LockProxy Lock();
  RLockProxy RLock();
  // A negative value -> mp::ValueError.
  SemaphoreProxy Semaphore(int value = 1);
  BoundedSemaphoreProxy BoundedSemaphore(int value = 1);
  // Over a new RLock, or over a Lock or RLock of this manager.
  ConditionProxy Condition();
  ConditionProxy Condition(const LockProxy& lock);
  ConditionProxy Condition(const RLockProxy& lock);
  EventProxy Event();
  // parties < 1 -> mp::ValueError.
  BarrierProxy Barrier(int parties);
  template <class Rep, class Period>
  BarrierProxy Barrier(int parties, std::chrono::duration<Rep, Period> timeout) {
    return create_builtin<BarrierProxy, internal::BarrierObject>(int64_t{parties},
                                                                 internal::to_wire(timeout));
  }
  // A Pool in the server (Python: manager.Pool(processes)); see PoolProxy.
  // processes < 1 -> mp::ValueError.
  PoolProxy Pool() { return Pool(PoolOptions{}); }
  PoolProxy Pool(int processes) { return Pool(PoolOptions{.processes = processes}); }
  // processes, maxtasksperchild and task_timeout as mp::Pool's; an
  // initializer -> mp::ValueError (it would have to run in the server's
  // workers).
  PoolProxy Pool(const PoolOptions& options);
};

// Python: multiprocessing.Manager(): a SyncManager, started.
class Manager : public SyncManager {
 public:
  Manager() : Manager(ManagerOptions{}) {}
  explicit Manager(const ManagerOptions& options) : SyncManager(options) { start(); }
  explicit Manager(Context& ctx, const ManagerOptions& options = {}) : SyncManager(ctx, options) {
    start();
  }
};

namespace internal {
// The segments a SharedMemoryManager's server owns.
struct SharedSegmentsObject;
}  // namespace internal

// Python: multiprocessing.managers.SharedMemoryManager. A server process that
// owns shared memory segments: SharedMemory(size) and ShareableList(items)
// make a segment in it and hand back this process's attachment. A segment
// outlives the process that asked for it, and goes
//   - at shutdown() (or this object's end): every name is unlinked before it
//     returns (if the server has died already, the guardian removes them);
//   - when the server ends any other way: it dies with the process that
//     started it (daemonic, even when that process is SIGKILLed) and the
//     shared memory guardian removes its names.
// Attachments keep their memory until they close it. The server ignores
// SIGINT, as every manager server does.
//
//   mp::SharedMemoryManager smm;  smm.start();
//   mp::SharedMemory block = smm.SharedMemory(4096);
//   mp::ShareableList list = smm.ShareableList({1, 2, 3});
//   smm.shutdown();
class SharedMemoryManager : public BaseManager {
 public:
  using BaseManager::BaseManager;
  SharedMemoryManager(SharedMemoryManager&&) noexcept = default;
  SharedMemoryManager& operator=(SharedMemoryManager&&) noexcept = default;
  ~SharedMemoryManager() override;

  // Starts the server. Twice, or after shutdown() -> mp::ProcessError.
  void start();
  // A new segment of `size` bytes (> 0, else mp::ValueError). Before start()
  // or after shutdown() -> mp::ValueError.
  mp::SharedMemory SharedMemory(int64_t size);
  // A new ShareableList holding `items`. Before start() -> mp::ValueError.
  mp::ShareableList ShareableList(std::initializer_list<mp::ShareableList::Item> items);
  mp::ShareableList ShareableList(const std::vector<mp::ShareableList::Item>& items);
  // Unlinks every segment the server owns, then stops it. A second call does
  // nothing.
  void shutdown();

 private:
  std::string create_segment(size_t size);
  std::optional<BaseProxy> segments_;
};

}  // namespace mp

#endif  // MP_MANAGERS_H_
