// mp/internal/manager/manager_objects.h — what a manager server holds for each
// built-in proxy type of mp/managers.h (Python: the typeids SyncManager
// registers: dict, list, Namespace, Value, Array, Queue, JoinableQueue and
// the threading primitives). Each class lists its methods in exposed() and
// names itself in type_name(); the server runs them on the thread that serves
// the calling client thread.

#ifndef MP_INTERNAL_MANAGER_MANAGER_OBJECTS_H_
#define MP_INTERNAL_MANAGER_MANAGER_OBJECTS_H_

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <typeinfo>
#include <utility>
#include <vector>

#include "mp/dummy/synchronize.h"
#include "mp/errors.h"
#include "mp/internal/manager/manager_core.h"

namespace mp::internal {

// A timeout on the wire: nanoseconds, or none (wait forever).
using WireTimeout = std::optional<int64_t>;

template <class Rep, class Period>
WireTimeout to_wire(std::chrono::duration<Rep, Period> timeout) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
}

// Python's index rule: negative counts from the end; out of range -> IndexError.
inline size_t python_index(int64_t index, size_t size, const char* what) {
  int64_t i = index < 0 ? index + static_cast<int64_t>(size) : index;
  if (i < 0 || i >= static_cast<int64_t>(size))
    throw IndexError(std::string(what) + " index out of range");
  return static_cast<size_t>(i);
}

// Python's slice bounds: negative counts from the end, then clamped to
// [0, size]; an empty slice when stop falls before start.
inline std::pair<size_t, size_t> python_slice(int64_t start, int64_t stop, size_t size) {
  const auto n = static_cast<int64_t>(size);
  auto bound = [n](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + n : i, 0, n); };
  const int64_t from = bound(start);
  return {static_cast<size_t>(from), static_cast<size_t>(std::max(from, bound(stop)))};
}

template <class T>
std::string mangled_name() {
  return typeid(T).name();
}

template <class K, class V>
class DictObject {
 public:
  using Map = std::map<K, V>;
  static std::string type_name() {
    return "dict<" + mangled_name<K>() + "," + mangled_name<V>() + ">";
  }
  explicit DictObject(Map init) : map_(std::move(init)) {}

  V get(const K& key) const {
    auto it = map_.find(key);
    if (it == map_.end()) throw KeyError("key not found");
    return it->second;
  }
  V get_or(const K& key, const V& fallback) const {
    auto it = map_.find(key);
    return it == map_.end() ? fallback : it->second;
  }
  void set(const K& key, const V& value) { map_.insert_or_assign(key, value); }
  bool contains(const K& key) const { return map_.count(key) != 0; }
  void erase(const K& key) {
    if (map_.erase(key) == 0) throw KeyError("key not found");
  }
  V pop(const K& key) {
    auto it = map_.find(key);
    if (it == map_.end()) throw KeyError("key not found");
    V value = std::move(it->second);
    map_.erase(it);
    return value;
  }
  V pop_or(const K& key, const V& fallback) {
    auto it = map_.find(key);
    if (it == map_.end()) return fallback;
    V value = std::move(it->second);
    map_.erase(it);
    return value;
  }
  std::pair<K, V> popitem() {
    if (map_.empty()) throw KeyError("popitem(): dictionary is empty");
    auto it = std::prev(map_.end());
    std::pair<K, V> item(it->first, std::move(it->second));
    map_.erase(it);
    return item;
  }
  V setdefault(const K& key, const V& fallback) {
    return map_.try_emplace(key, fallback).first->second;
  }
  uint64_t size() const { return map_.size(); }
  std::vector<K> keys() const {
    std::vector<K> out;
    for (const auto& [k, v] : map_) out.push_back(k);
    return out;
  }
  std::vector<V> values() const {
    std::vector<V> out;
    for (const auto& [k, v] : map_) out.push_back(v);
    return out;
  }
  std::vector<std::pair<K, V>> items() const { return {map_.begin(), map_.end()}; }
  void update(const Map& other) {
    for (const auto& [k, v] : other) map_.insert_or_assign(k, v);
  }
  void clear() { map_.clear(); }
  Map copy() const { return map_; }

  static constexpr auto exposed() {
    return std::make_tuple(
        ExposedMethod{"get", &DictObject::get}, ExposedMethod{"get_or", &DictObject::get_or},
        ExposedMethod{"set", &DictObject::set}, ExposedMethod{"contains", &DictObject::contains},
        ExposedMethod{"erase", &DictObject::erase}, ExposedMethod{"pop", &DictObject::pop},
        ExposedMethod{"pop_or", &DictObject::pop_or},
        ExposedMethod{"popitem", &DictObject::popitem},
        ExposedMethod{"setdefault", &DictObject::setdefault},
        ExposedMethod{"size", &DictObject::size}, ExposedMethod{"keys", &DictObject::keys},
        ExposedMethod{"values", &DictObject::values}, ExposedMethod{"items", &DictObject::items},
        ExposedMethod{"update", &DictObject::update}, ExposedMethod{"clear", &DictObject::clear},
        ExposedMethod{"copy", &DictObject::copy});
  }

 private:
  Map map_;
};

template <class T>
class ListObject {
 public:
  static std::string type_name() { return "list<" + mangled_name<T>() + ">"; }
  explicit ListObject(std::vector<T> init) : items_(std::move(init)) {}

  void append(const T& item) { items_.push_back(item); }
  void extend(const std::vector<T>& more) { items_.insert(items_.end(), more.begin(), more.end()); }
  T at(int64_t index) const { return items_[python_index(index, items_.size(), "list")]; }
  void set(int64_t index, const T& item) {
    items_[python_index(index, items_.size(), "list assignment")] = item;
  }
  void erase(int64_t index) {
    items_.erase(items_.begin() +
                 static_cast<ptrdiff_t>(python_index(index, items_.size(), "list assignment")));
  }
  T pop(int64_t index) {
    if (items_.empty()) throw IndexError("pop from empty list");
    auto i = python_index(index, items_.size(), "pop");
    T item = std::move(items_[i]);
    items_.erase(items_.begin() + static_cast<ptrdiff_t>(i));
    return item;
  }
  void insert(int64_t index, const T& item) {
    // Python clamps: insert(-100, x) prepends, insert(100, x) appends.
    int64_t n = static_cast<int64_t>(items_.size());
    int64_t i = index < 0 ? std::max<int64_t>(0, index + n) : std::min(index, n);
    items_.insert(items_.begin() + i, item);
  }
  uint64_t size() const { return items_.size(); }
  std::vector<T> copy() const { return items_; }
  std::vector<T> slice(int64_t begin, int64_t end) const {
    auto [from, to] = python_slice(begin, end, items_.size());
    return std::vector<T>(items_.begin() + from, items_.begin() + to);
  }
  uint64_t count(const T& item) const {
    return static_cast<uint64_t>(std::count(items_.begin(), items_.end(), item));
  }
  uint64_t index(const T& item) const {
    auto it = std::find(items_.begin(), items_.end(), item);
    if (it == items_.end()) throw ValueError("item is not in list");
    return static_cast<uint64_t>(it - items_.begin());
  }
  void remove(const T& item) {
    auto it = std::find(items_.begin(), items_.end(), item);
    if (it == items_.end()) throw ValueError("list.remove(x): x not in list");
    items_.erase(it);
  }
  void reverse() { std::reverse(items_.begin(), items_.end()); }
  void sort() {
    if constexpr (requires(const T& a, const T& b) { a < b; }) {
      std::stable_sort(items_.begin(), items_.end());
    } else {
      throw TypeError("the list's element type has no operator<");
    }
  }
  void repeat(int64_t times) {
    if (times <= 0) {
      items_.clear();
      return;
    }
    auto one = items_;
    for (int64_t i = 1; i < times; ++i) items_.insert(items_.end(), one.begin(), one.end());
  }
  void clear() { items_.clear(); }

  static constexpr auto exposed() {
    return std::make_tuple(
        ExposedMethod{"append", &ListObject::append}, ExposedMethod{"extend", &ListObject::extend},
        ExposedMethod{"at", &ListObject::at}, ExposedMethod{"set", &ListObject::set},
        ExposedMethod{"erase", &ListObject::erase}, ExposedMethod{"pop", &ListObject::pop},
        ExposedMethod{"insert", &ListObject::insert}, ExposedMethod{"size", &ListObject::size},
        ExposedMethod{"copy", &ListObject::copy}, ExposedMethod{"slice", &ListObject::slice},
        ExposedMethod{"count", &ListObject::count}, ExposedMethod{"index", &ListObject::index},
        ExposedMethod{"remove", &ListObject::remove},
        ExposedMethod{"reverse", &ListObject::reverse}, ExposedMethod{"sort", &ListObject::sort},
        ExposedMethod{"repeat", &ListObject::repeat}, ExposedMethod{"clear", &ListObject::clear});
  }

 private:
  std::vector<T> items_;
};

template <class T>
class SetObject {
 public:
  using Set = std::set<T>;
  static std::string type_name() { return "set<" + mangled_name<T>() + ">"; }
  explicit SetObject(Set init) : items_(std::move(init)) {}

  void add(const T& item) { items_.insert(item); }
  void remove(const T& item) {
    if (items_.erase(item) == 0) throw KeyError("item not in set");
  }
  void discard(const T& item) { items_.erase(item); }
  T pop() {
    if (items_.empty()) throw KeyError("pop from an empty set");
    T item = *items_.begin();
    items_.erase(items_.begin());
    return item;
  }
  bool contains(const T& item) const { return items_.count(item) != 0; }
  uint64_t size() const { return items_.size(); }
  Set copy() const { return items_; }
  void clear() { items_.clear(); }
  void update(const Set& other) { items_.insert(other.begin(), other.end()); }
  void intersection_update(const Set& other) { items_ = intersection(other); }
  void difference_update(const Set& other) { items_ = difference(other); }
  void symmetric_difference_update(const Set& other) { items_ = symmetric_difference(other); }
  Set union_with(const Set& other) const {
    Set out = items_;
    out.insert(other.begin(), other.end());
    return out;
  }
  Set intersection(const Set& other) const {
    Set out;
    std::set_intersection(items_.begin(), items_.end(), other.begin(), other.end(),
                          std::inserter(out, out.end()));
    return out;
  }
  Set difference(const Set& other) const {
    Set out;
    std::set_difference(items_.begin(), items_.end(), other.begin(), other.end(),
                        std::inserter(out, out.end()));
    return out;
  }
  Set symmetric_difference(const Set& other) const {
    Set out;
    std::set_symmetric_difference(items_.begin(), items_.end(), other.begin(), other.end(),
                                  std::inserter(out, out.end()));
    return out;
  }
  bool isdisjoint(const Set& other) const { return intersection(other).empty(); }
  bool issubset(const Set& other) const {
    return std::includes(other.begin(), other.end(), items_.begin(), items_.end());
  }
  bool issuperset(const Set& other) const {
    return std::includes(items_.begin(), items_.end(), other.begin(), other.end());
  }

  static constexpr auto exposed() {
    return std::make_tuple(
        ExposedMethod{"add", &SetObject::add}, ExposedMethod{"remove", &SetObject::remove},
        ExposedMethod{"discard", &SetObject::discard}, ExposedMethod{"pop", &SetObject::pop},
        ExposedMethod{"contains", &SetObject::contains}, ExposedMethod{"size", &SetObject::size},
        ExposedMethod{"copy", &SetObject::copy}, ExposedMethod{"clear", &SetObject::clear},
        ExposedMethod{"update", &SetObject::update},
        ExposedMethod{"intersection_update", &SetObject::intersection_update},
        ExposedMethod{"difference_update", &SetObject::difference_update},
        ExposedMethod{"symmetric_difference_update", &SetObject::symmetric_difference_update},
        ExposedMethod{"union", &SetObject::union_with},
        ExposedMethod{"intersection", &SetObject::intersection},
        ExposedMethod{"difference", &SetObject::difference},
        ExposedMethod{"symmetric_difference", &SetObject::symmetric_difference},
        ExposedMethod{"isdisjoint", &SetObject::isdisjoint},
        ExposedMethod{"issubset", &SetObject::issubset},
        ExposedMethod{"issuperset", &SetObject::issuperset});
  }

 private:
  Set items_;
};

// Attributes of any type: each value is kept encoded with its type's name,
// and read back only as that type.
class NamespaceObject {
 public:
  static std::string type_name() { return "Namespace"; }
  NamespaceObject() = default;

  void set(const std::string& name, const std::string& type, const std::string& bytes) {
    attributes_.insert_or_assign(name, std::make_pair(type, bytes));
  }
  std::pair<std::string, std::string> get(const std::string& name) const {
    auto it = attributes_.find(name);
    if (it == attributes_.end())
      throw AttributeError("'Namespace' object has no attribute '" + name + "'");
    return it->second;
  }
  bool contains(const std::string& name) const { return attributes_.count(name) != 0; }
  void erase(const std::string& name) {
    if (attributes_.erase(name) == 0)
      throw AttributeError("'Namespace' object has no attribute '" + name + "'");
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : attributes_) out.push_back(k);
    return out;
  }

  static constexpr auto exposed() {
    return std::make_tuple(ExposedMethod{"set", &NamespaceObject::set},
                           ExposedMethod{"get", &NamespaceObject::get},
                           ExposedMethod{"contains", &NamespaceObject::contains},
                           ExposedMethod{"erase", &NamespaceObject::erase},
                           ExposedMethod{"names", &NamespaceObject::names});
  }

 private:
  std::map<std::string, std::pair<std::string, std::string>> attributes_;
};

template <class T>
class ValueObject {
 public:
  static std::string type_name() { return "Value<" + mangled_name<T>() + ">"; }
  explicit ValueObject(T value) : value_(std::move(value)) {}
  T get() const { return value_; }
  void set(const T& value) { value_ = value; }
  static constexpr auto exposed() {
    return std::make_tuple(ExposedMethod{"get", &ValueObject::get},
                           ExposedMethod{"set", &ValueObject::set});
  }

 private:
  T value_;
};

template <class T>
class ArrayObject {
 public:
  static std::string type_name() { return "Array<" + mangled_name<T>() + ">"; }
  explicit ArrayObject(std::vector<T> init) : items_(std::move(init)) {}
  T at(int64_t index) const { return items_[python_index(index, items_.size(), "array")]; }
  void set(int64_t index, const T& item) {
    items_[python_index(index, items_.size(), "array assignment")] = item;
  }
  uint64_t size() const { return items_.size(); }
  std::vector<T> copy() const { return items_; }
  // a[start:stop], clamped as Python clamps (negative bounds count from the end).
  std::vector<T> slice(int64_t start, int64_t stop) const {
    auto [from, to] = python_slice(start, stop, items_.size());
    return std::vector<T>(items_.begin() + from, items_.begin() + to);
  }
  // a[start:stop] = items, of the slice's length (else ValueError, nothing written).
  void set_slice(int64_t start, int64_t stop, const std::vector<T>& items) {
    auto [from, to] = python_slice(start, stop, items_.size());
    if (items.size() != to - from) {
      throw ValueError("Can only assign sequence of same size (" + std::to_string(items.size()) +
                       " items for " + std::to_string(to - from) + ")");
    }
    std::copy(items.begin(), items.end(), items_.begin() + static_cast<std::ptrdiff_t>(from));
  }
  static constexpr auto exposed() {
    return std::make_tuple(
        ExposedMethod{"at", &ArrayObject::at}, ExposedMethod{"set", &ArrayObject::set},
        ExposedMethod{"size", &ArrayObject::size}, ExposedMethod{"copy", &ArrayObject::copy},
        ExposedMethod{"slice", &ArrayObject::slice},
        ExposedMethod{"set_slice", &ArrayObject::set_slice});
  }

 private:
  std::vector<T> items_;
};

// queue.Queue: FIFO with an optional bound, and JoinableQueue's task count.
template <class T>
class QueueObject {
 public:
  static constexpr bool kConcurrent = true;
  static std::string type_name() { return "Queue<" + mangled_name<T>() + ">"; }
  explicit QueueObject(int64_t maxsize) : maxsize_(maxsize) {}

  void put(const T& item, bool block, WireTimeout timeout) {
    std::unique_lock lock(mutex_);
    if (!wait(lock, not_full_, block, timeout, [&] { return !full_locked(); })) throw Full();
    items_.push_back(item);
    ++unfinished_;
    not_empty_.notify_one();
  }
  T get(bool block, WireTimeout timeout) {
    std::unique_lock lock(mutex_);
    if (!wait(lock, not_empty_, block, timeout, [&] { return !items_.empty(); })) throw Empty();
    T item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return item;
  }
  uint64_t qsize() {
    std::lock_guard lock(mutex_);
    return items_.size();
  }
  bool empty() {
    std::lock_guard lock(mutex_);
    return items_.empty();
  }
  bool full() {
    std::lock_guard lock(mutex_);
    return full_locked();
  }
  void task_done() {
    std::lock_guard lock(mutex_);
    if (unfinished_ == 0) throw ValueError("task_done() called too many times");
    if (--unfinished_ == 0) all_done_.notify_all();
  }
  void join() {
    std::unique_lock lock(mutex_);
    all_done_.wait(lock, [&] { return unfinished_ == 0; });
  }

  static constexpr auto exposed() {
    return std::make_tuple(
        ExposedMethod{"put", &QueueObject::put}, ExposedMethod{"get", &QueueObject::get},
        ExposedMethod{"qsize", &QueueObject::qsize}, ExposedMethod{"empty", &QueueObject::empty},
        ExposedMethod{"full", &QueueObject::full},
        ExposedMethod{"task_done", &QueueObject::task_done},
        ExposedMethod{"join", &QueueObject::join});
  }

 private:
  bool full_locked() const {
    return maxsize_ > 0 && static_cast<int64_t>(items_.size()) >= maxsize_;
  }
  template <class Ready>
  static bool wait(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, bool block,
                   WireTimeout timeout, Ready ready) {
    if (ready()) return true;
    if (!block) return false;
    if (!timeout) {
      cv.wait(lock, ready);
      return true;
    }
    return cv.wait_for(lock, std::chrono::nanoseconds(std::max<int64_t>(*timeout, 0)), ready);
  }

  std::mutex mutex_;
  std::condition_variable not_empty_, not_full_, all_done_;
  std::deque<T> items_;
  int64_t maxsize_;
  uint64_t unfinished_ = 0;
};

// acquire(block, timeout) for the threading primitives.
template <class L>
bool acquire_on_wire(L& lock, bool block, WireTimeout timeout) {
  if (!block || !timeout) return lock.acquire(block);
  return lock.acquire(true, std::chrono::nanoseconds(*timeout));
}

// threading.Lock (kReentrant false) or RLock.
template <bool kReentrant>
class LockObjectOf {
 public:
  using L = std::conditional_t<kReentrant, mp::dummy::RLock, mp::dummy::Lock>;
  static constexpr bool kConcurrent = true;
  static std::string type_name() { return kReentrant ? "RLock" : "Lock"; }
  LockObjectOf() = default;
  bool acquire(bool block, WireTimeout timeout) { return acquire_on_wire(lock_, block, timeout); }
  void release() { lock_.release(); }
  bool locked() const { return lock_.locked(); }
  static constexpr auto exposed() {
    return std::make_tuple(ExposedMethod{"acquire", &LockObjectOf::acquire},
                           ExposedMethod{"release", &LockObjectOf::release},
                           ExposedMethod{"locked", &LockObjectOf::locked});
  }
  L lock_;
};
using LockObject = LockObjectOf<false>;
using RLockObject = LockObjectOf<true>;

template <bool kBounded>
class SemaphoreObject {
 public:
  using Sem = std::conditional_t<kBounded, mp::dummy::BoundedSemaphore, mp::dummy::Semaphore>;
  static constexpr bool kConcurrent = true;
  static std::string type_name() { return kBounded ? "BoundedSemaphore" : "Semaphore"; }
  explicit SemaphoreObject(int64_t value) : sem_(static_cast<int>(value)) {}
  bool acquire(bool block, WireTimeout timeout) { return acquire_on_wire(sem_, block, timeout); }
  void release() { sem_.release(); }
  int64_t get_value() const { return sem_.get_value(); }
  static constexpr auto exposed() {
    return std::make_tuple(ExposedMethod{"acquire", &SemaphoreObject::acquire},
                           ExposedMethod{"release", &SemaphoreObject::release},
                           ExposedMethod{"get_value", &SemaphoreObject::get_value});
  }

 private:
  Sem sem_;
};

class ConditionObject {
 public:
  static constexpr bool kConcurrent = true;
  static std::string type_name() { return "Condition"; }
  // Over a new RLock, or over the manager's Lock or RLock with id `lock`.
  ConditionObject(ManagerServer& server, std::optional<uint64_t> lock)
      : condition_(make(server, lock)) {}

  bool acquire(bool block, WireTimeout timeout) {
    if (!block || !timeout) return condition_.acquire(block);
    return condition_.acquire(std::chrono::nanoseconds(*timeout));
  }
  void release() { condition_.release(); }
  bool wait(WireTimeout timeout) {
    return timeout ? condition_.wait(std::chrono::nanoseconds(*timeout)) : condition_.wait();
  }
  void notify(int64_t n) { condition_.notify(static_cast<int>(n)); }
  void notify_all() { condition_.notify_all(); }
  static constexpr auto exposed() {
    return std::make_tuple(ExposedMethod{"acquire", &ConditionObject::acquire},
                           ExposedMethod{"release", &ConditionObject::release},
                           ExposedMethod{"wait", &ConditionObject::wait},
                           ExposedMethod{"notify", &ConditionObject::notify},
                           ExposedMethod{"notify_all", &ConditionObject::notify_all});
  }

 private:
  static mp::dummy::Condition make(ManagerServer& server, std::optional<uint64_t> lock) {
    if (!lock) return mp::dummy::Condition();
    if (auto* l = server.referent<LockObject>(*lock)) return mp::dummy::Condition(l->lock_);
    if (auto* r = server.referent<RLockObject>(*lock)) return mp::dummy::Condition(r->lock_);
    throw TypeError("a Condition's lock must be a Lock or RLock of the same manager");
  }
  mp::dummy::Condition condition_;
};

class EventObject {
 public:
  static constexpr bool kConcurrent = true;
  static std::string type_name() { return "Event"; }
  EventObject() = default;
  void set() { event_.set(); }
  void clear() { event_.clear(); }
  bool is_set() const { return event_.is_set(); }
  bool wait(WireTimeout timeout) {
    return timeout ? event_.wait(std::chrono::nanoseconds(*timeout)) : event_.wait();
  }
  static constexpr auto exposed() {
    return std::make_tuple(
        ExposedMethod{"set", &EventObject::set}, ExposedMethod{"clear", &EventObject::clear},
        ExposedMethod{"is_set", &EventObject::is_set}, ExposedMethod{"wait", &EventObject::wait});
  }

 private:
  mp::dummy::Event event_;
};

class BarrierObject {
 public:
  static constexpr bool kConcurrent = true;
  static std::string type_name() { return "Barrier"; }
  BarrierObject(int64_t parties, WireTimeout timeout)
      : barrier_(static_cast<int>(parties), nullptr,
                 std::chrono::nanoseconds(timeout ? *timeout : int64_t{-1})) {}
  int64_t wait(WireTimeout timeout) {
    return timeout ? barrier_.wait(std::chrono::nanoseconds(*timeout)) : barrier_.wait();
  }
  void reset() { barrier_.reset(); }
  void abort() { barrier_.abort(); }
  int64_t parties() const { return barrier_.parties(); }
  int64_t n_waiting() const { return barrier_.n_waiting(); }
  bool broken() const { return barrier_.broken(); }
  static constexpr auto exposed() {
    return std::make_tuple(ExposedMethod{"wait", &BarrierObject::wait},
                           ExposedMethod{"reset", &BarrierObject::reset},
                           ExposedMethod{"abort", &BarrierObject::abort},
                           ExposedMethod{"parties", &BarrierObject::parties},
                           ExposedMethod{"n_waiting", &BarrierObject::n_waiting},
                           ExposedMethod{"broken", &BarrierObject::broken});
  }

 private:
  mp::dummy::Barrier barrier_;
};

}  // namespace mp::internal

#endif  // MP_INTERNAL_MANAGER_MANAGER_OBJECTS_H_
