// mp/concepts.h — what code written once may call on mp's primitives,
// mp::dummy's and a manager's proxies alike.
//
// A proxy speaks its primitive's names, so a function template constrained
// by one of these concepts takes any of the three:
//
//   template <mp::ValueLike V>
//   void bump(V& v) { v.set_value(v.value() + 1); }
//
//   mp::Value<int> shared(0);         bump(shared);
//   auto proxy = manager.Value(0);    bump(proxy);
//
// Timeouts are any std::chrono::duration; the concepts check milliseconds.

#ifndef MP_CONCEPTS_H_
#define MP_CONCEPTS_H_

#include <chrono>
#include <concepts>
#include <cstddef>
#include <vector>

namespace mp {

// acquire(block, timeout) as Python has it, and C++'s Lockable and
// TimedLockable: Lock, RLock, Semaphore, BoundedSemaphore, Condition.
template <class L>
concept Acquirable = requires(L& l, bool block, std::chrono::milliseconds timeout,
                              std::chrono::steady_clock::time_point when) {
  { l.acquire() } -> std::same_as<bool>;
  { l.acquire(block) } -> std::same_as<bool>;
  { l.acquire(timeout) } -> std::same_as<bool>;
  { l.acquire(block, timeout) } -> std::same_as<bool>;
  l.release();
  l.lock();
  l.unlock();
  { l.try_lock() } -> std::same_as<bool>;
  { l.try_lock_for(timeout) } -> std::same_as<bool>;
  { l.try_lock_until(when) } -> std::same_as<bool>;
};

// Lock and RLock.
template <class L>
concept LockLike = Acquirable<L> && requires(const L& l) {
  { l.locked() } -> std::same_as<bool>;
  { l.acquired_from_dead_holder() } -> std::same_as<bool>;
};

// Semaphore and BoundedSemaphore.
template <class S>
concept SemaphoreLike = Acquirable<S> && requires(const S& s) {
  { s.get_value() } -> std::same_as<int>;
  { s.locked() } -> std::same_as<bool>;
};

template <class C>
concept ConditionLike =
    Acquirable<C> && requires(C& c, std::chrono::milliseconds timeout, bool (*predicate)(), int n) {
      { c.wait() } -> std::same_as<bool>;
      { c.wait(timeout) } -> std::same_as<bool>;
      { c.wait_for(predicate) } -> std::same_as<bool>;
      { c.wait_for(predicate, timeout) } -> std::same_as<bool>;
      c.notify();
      c.notify(n);
      c.notify_all();
    };

template <class E>
concept EventLike = requires(E& e, std::chrono::milliseconds timeout) {
  e.set();
  e.clear();
  { e.is_set() } -> std::same_as<bool>;
  { e.wait() } -> std::same_as<bool>;
  { e.wait(timeout) } -> std::same_as<bool>;
};

template <class B>
concept BarrierLike = requires(B& b, std::chrono::milliseconds timeout) {
  { b.wait() } -> std::same_as<int>;
  { b.wait(timeout) } -> std::same_as<int>;
  b.reset();
  b.abort();
  { b.parties() } -> std::same_as<int>;
  { b.n_waiting() } -> std::same_as<int>;
  { b.broken() } -> std::same_as<bool>;
};

// Queue<T> (and JoinableQueue<T>, which adds task_done() and join()).
template <class Q, class T>
concept QueueLike = requires(Q& q, const T& item, bool block, std::chrono::milliseconds timeout) {
  q.put(item);
  q.put(item, block);
  q.put(item, timeout);
  q.put(item, block, timeout);
  q.put_nowait(item);
  { q.try_put(item) } -> std::same_as<bool>;
  { q.get() } -> std::same_as<T>;
  { q.get(block) } -> std::same_as<T>;
  { q.get(timeout) } -> std::same_as<T>;
  { q.get(block, timeout) } -> std::same_as<T>;
  { q.get_nowait() } -> std::same_as<T>;
  { *q.try_get() } -> std::convertible_to<T>;
  { q.qsize() } -> std::convertible_to<size_t>;
  { q.empty() } -> std::same_as<bool>;
  { q.full() } -> std::same_as<bool>;
};

template <class Q, class T>
concept JoinableQueueLike = QueueLike<Q, T> && requires(Q& q) {
  q.task_done();
  q.join();
};

// Value<T>: a copy in, a copy out.
template <class V>
concept ValueLike = requires(V& v, const typename V::value_type& x) {
  { v.value() } -> std::convertible_to<typename V::value_type>;
  v.set_value(x);
};

// Array<T>: elements and slices copied in and out.
template <class A>
concept ArrayLike =
    requires(A& a, const typename A::value_type& x, const std::vector<typename A::value_type>& xs) {
      { a.size() } -> std::convertible_to<size_t>;
      { a.empty() } -> std::same_as<bool>;
      { a.get(0) } -> std::convertible_to<typename A::value_type>;
      a.set(0, x);
      { a.slice(0, 1) } -> std::convertible_to<std::vector<typename A::value_type>>;
      a.set_slice(0, 1, xs);
      a.assign(xs);
      { a.to_vector() } -> std::convertible_to<std::vector<typename A::value_type>>;
    };

}  // namespace mp

#endif  // MP_CONCEPTS_H_
