// mp/internal/sync/synchronize_impl.h — the classes behind mp/synchronize.h and
// mp/dummy/synchronize.h: one set of templates over a Traits type that says
// where the state lives (a shared segment for processes, the heap for
// threads) and which exceptions misuse raises (multiprocessing's or
// threading's, as Python's two modules differ).

#ifndef MP_INTERNAL_SYNC_SYNCHRONIZE_IMPL_H_
#define MP_INTERNAL_SYNC_SYNCHRONIZE_IMPL_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "mp/context.h"
#include "mp/errors.h"
#include "mp/internal/base/fd.h"
#include "mp/internal/base/sharing.h"
#include "mp/internal/base/shm.h"
#include "mp/internal/base/target.h"
#include "mp/internal/sync/sync_core.h"
#include "mp/reduction.h"

namespace mp::internal {

// The Codec of a primitive whose whole state is one shared segment, its
// state_: encodes the segment's descriptor, decodes by attaching to it.
template <class T>
struct StateCodec {
  static void encode(Writer& w, const T& v) { v.state_.encode(w); }
  static T decode(Reader& r) { return T(decltype(T::state_)::decode(r)); }
};

// The Codec of a public class over one of these templates (mp::Lock over
// BasicLock<ProcessSync>, ...): its base's, and a Public made from that.
template <class Public, class Impl>
struct PublicCodec {
  static void encode(Writer& w, const Public& v) { Codec<Impl>::encode(w, v); }
  static Public decode(Reader& r) { return Public(Codec<Impl>::decode(r)); }
};

// A flag a handle keeps about its last acquire. One handle may be shared by
// threads (a manager's server serves a Lock from a thread per client), so
// it is atomic; handles copy, so it copies.
struct CopyableFlag {
  std::atomic<bool> value{false};
  CopyableFlag() = default;
  CopyableFlag(const CopyableFlag& other) : value(other.load(std::memory_order_relaxed)) {}
  CopyableFlag& operator=(const CopyableFlag& other) {
    value.store(other.load(std::memory_order_relaxed), std::memory_order_relaxed);
    return *this;
  }
  bool load(std::memory_order order) const noexcept { return value.load(order); }
  void store(bool v, std::memory_order order) noexcept { value.store(v, order); }
};

// A deadline from Python's (block, timeout): block=false tries once and
// ignores the timeout; a negative timeout also tries once.
template <class Rep, class Period>
Deadline acquire_deadline(bool block, std::chrono::duration<Rep, Period> timeout) {
  return block ? deadline_after(timeout) : Clock::now();
}
inline Deadline acquire_deadline(bool block) { return block ? Deadline() : Deadline(Clock::now()); }

template <class Clock2, class Duration>
Deadline deadline_at(std::chrono::time_point<Clock2, Duration> t) {
  return Clock::now() + std::chrono::ceil<Clock::duration>(t - Clock2::now());
}

// "MainProcess", "MainProcess|<thread>", "SomeOtherThread", "SomeOtherProcess".
std::string describe_holder(int32_t pid, int32_t tid);

// acquire()'s Python overloads and C++'s Lockable / TimedLockable calls,
// written once over the class's acquire_until(Deadline) and release()
// (Lock, RLock, Semaphore, BoundedSemaphore, Condition). Python:
// acquire(block=True, timeout=None) -> true once held; false if not blocking
// and taken elsewhere, or at the timeout.
template <class Derived>
class TimedLockable {
 public:
  bool acquire(bool block = true) { return self().acquire_until(acquire_deadline(block)); }
  template <class Rep, class Period>
  bool acquire(std::chrono::duration<Rep, Period> timeout) {
    return self().acquire_until(deadline_after(timeout));
  }
  template <class Rep, class Period>
  bool acquire(bool block, std::chrono::duration<Rep, Period> timeout) {
    return self().acquire_until(acquire_deadline(block, timeout));
  }
  void lock() { acquire(); }
  void unlock() { self().release(); }
  bool try_lock() { return acquire(false); }
  template <class Rep, class Period>
  bool try_lock_for(std::chrono::duration<Rep, Period> timeout) {
    return acquire(timeout);
  }
  template <class C, class D>
  bool try_lock_until(std::chrono::time_point<C, D> t) {
    return self().acquire_until(deadline_at(t));
  }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
};

template <class Traits>
class BasicCondition;

template <class Traits>
class BasicLock : public TimedLockable<BasicLock<Traits>> {
 public:
  BasicLock() : state_(Traits::template Storage<LockState>::create("mp-lock")) {}
  explicit BasicLock(Context&) : BasicLock() {}

  // acquire(), lock(), try_lock_for(), ...: TimedLockable's.
  // Any thread or process may release. Not held -> mp::ValueError
  // (mp::RuntimeError in mp::dummy).
  void release() {
    if (!lock_release(*state_, Traits::kSharing)) Traits::released_too_many_times();
  }
  // Held by anyone, in any process?
  bool locked() const { return lock_held(*state_); }
  // Whether this handle's last successful acquire took the lock from a
  // holder whose process had died holding it (what it guarded may be half
  // updated). CPython would have waited forever.
  bool acquired_from_dead_holder() const noexcept {
    return from_dead_holder_.load(std::memory_order_relaxed);
  }
  // Python's repr: "<Lock(owner=None)>", "<Lock(owner=MainProcess)>", ...
  std::string repr() const {
    return "<Lock(owner=" +
           (locked() ? describe_holder(lock_holder_pid(*state_), state_->owner_tid.load())
                     : std::string("None")) +
           ")>";
  }

  friend bool operator==(const BasicLock& a, const BasicLock& b) noexcept {
    return a.state_ == b.state_;
  }

 private:
  friend struct StateCodec<BasicLock>;
  friend class BasicCondition<Traits>;
  friend class TimedLockable<BasicLock>;
  explicit BasicLock(typename Traits::template Storage<LockState> state)
      : state_(std::move(state)) {}
  bool acquire_until(const Deadline& deadline) {
    Acquired got = lock_acquire(*state_, deadline, Traits::kSharing);
    if (got != Acquired::kNo) {
      from_dead_holder_.store(got == Acquired::kFromDeadHolder, std::memory_order_relaxed);
    }
    return got != Acquired::kNo;
  }
  bool is_mine() const { return lock_is_mine(*state_); }

  typename Traits::template Storage<LockState> state_;
  CopyableFlag from_dead_holder_;
};

template <class Traits>
class BasicRLock : public TimedLockable<BasicRLock<Traits>> {
 public:
  BasicRLock() : state_(Traits::template Storage<LockState>::create("mp-rlock")) {}
  explicit BasicRLock(Context&) : BasicRLock() {}

  // Re-entrant: the holding thread may acquire again (and must release as
  // often). acquire(), lock(), try_lock_for(), ...: TimedLockable's.
  // Only the holding thread may release. Otherwise -> mp::AssertionError
  // (mp::RuntimeError in mp::dummy).
  void release() {
    if (!rlock_release(*state_, Traits::kSharing)) Traits::rlock_not_owned();
  }
  bool locked() const { return lock_held(*state_); }
  bool acquired_from_dead_holder() const noexcept {
    return from_dead_holder_.load(std::memory_order_relaxed);
  }
  // Python's repr: "<RLock(None, 0)>", "<RLock(MainProcess, 3)>", ...
  std::string repr() const {
    if (!locked()) return "<RLock(None, 0)>";
    std::string who = describe_holder(lock_holder_pid(*state_), state_->owner_tid.load());
    std::string count = lock_is_mine(*state_) ? std::to_string(state_->count.load()) : "nonzero";
    return "<RLock(" + who + ", " + count + ")>";
  }

  friend bool operator==(const BasicRLock& a, const BasicRLock& b) noexcept {
    return a.state_ == b.state_;
  }

 private:
  friend struct StateCodec<BasicRLock>;
  friend class BasicCondition<Traits>;
  friend class TimedLockable<BasicRLock>;
  explicit BasicRLock(typename Traits::template Storage<LockState> state)
      : state_(std::move(state)) {}
  bool acquire_until(const Deadline& deadline) {
    Acquired got = rlock_acquire(*state_, deadline, Traits::kSharing);
    if (got != Acquired::kNo) {
      from_dead_holder_.store(got == Acquired::kFromDeadHolder, std::memory_order_relaxed);
    }
    return got != Acquired::kNo;
  }
  bool is_mine() const { return lock_is_mine(*state_); }

  typename Traits::template Storage<LockState> state_;
  CopyableFlag from_dead_holder_;
};

template <class Traits, bool kBounded>
class BasicSemaphore : public TimedLockable<BasicSemaphore<Traits, kBounded>> {
 public:
  // Negative -> std::system_error(EINVAL) (mp::ValueError in mp::dummy).
  explicit BasicSemaphore(int value = 1) : state_(make(value)) {}
  BasicSemaphore(Context&, int value = 1) : BasicSemaphore(value) {}

  // acquire(), lock(), try_lock_for(), ...: TimedLockable's.
  // Semaphore: no upper bound. BoundedSemaphore: past the initial value ->
  // mp::ValueError.
  void release() {
    if (!semaphore_release(*state_, Traits::kSharing)) Traits::bounded_overflow();
  }
  int get_value() const { return static_cast<int>(state_->value.load()); }
  // Python 3.14: true when acquire(false) would fail.
  bool locked() const { return get_value() == 0; }

  friend bool operator==(const BasicSemaphore& a, const BasicSemaphore& b) noexcept {
    return a.state_ == b.state_;
  }

 private:
  friend struct StateCodec<BasicSemaphore>;
  friend class TimedLockable<BasicSemaphore>;
  explicit BasicSemaphore(typename Traits::template Storage<SemaphoreState> state)
      : state_(std::move(state)) {}
  static typename Traits::template Storage<SemaphoreState> make(int value) {
    if (value < 0) Traits::negative_semaphore();
    auto state = Traits::template Storage<SemaphoreState>::create(kBounded ? "mp-bounded-semaphore"
                                                                           : "mp-semaphore");
    state->value.store(static_cast<uint32_t>(value));
    state->max = kBounded ? static_cast<uint32_t>(value) : 0;
    return state;
  }
  bool acquire_until(const Deadline& deadline) {
    return semaphore_acquire(*state_, deadline, Traits::kSharing);
  }

  typename Traits::template Storage<SemaphoreState> state_;
};

template <class Traits>
class BasicEvent {
 public:
  BasicEvent() : state_(Traits::template Storage<EventState>::create("mp-event")) {}
  explicit BasicEvent(Context&) : BasicEvent() {}

  // Wakes every waiter, in every process.
  void set() { event_set(*state_, Traits::kSharing); }
  void clear() { event_clear(*state_); }
  bool is_set() const { return state_->flag.load() != 0; }
  // Returns the flag: true at once if set, true if set while waiting, false
  // at the timeout.
  bool wait() { return event_wait(*state_, std::nullopt, Traits::kSharing); }
  template <class Rep, class Period>
  bool wait(std::chrono::duration<Rep, Period> timeout) {
    return event_wait(*state_, deadline_after(timeout), Traits::kSharing);
  }
  // Python's repr: "<Event at 0x... set>" / "... unset>".
  std::string repr() const {
    char at[32];
    std::snprintf(at, sizeof(at), "%p", static_cast<void*>(state_.get()));
    return std::string("<Event at ") + at + (is_set() ? " set>" : " unset>");
  }

  friend bool operator==(const BasicEvent& a, const BasicEvent& b) noexcept {
    return a.state_ == b.state_;
  }

 private:
  friend struct StateCodec<BasicEvent>;
  explicit BasicEvent(typename Traits::template Storage<EventState> state)
      : state_(std::move(state)) {}
  typename Traits::template Storage<EventState> state_;
};

// Condition.wait_for's loop, for mp's conditions and a manager's: checks
// `predicate` first and after each wake-up until it holds or `deadline`
// passes (nullopt: never); `wait(deadline)` is one wait. Returns the
// predicate's last value.
template <class Predicate, class Wait>
bool wait_for_predicate(Predicate& predicate, Wait wait, const Deadline& deadline) {
  bool result = predicate();
  while (!result) {
    if (deadline && Clock::now() >= *deadline) break;
    wait(deadline);
    result = predicate();
  }
  return result;
}

template <class Traits>
class BasicCondition : public TimedLockable<BasicCondition<Traits>> {
 public:
  using Lock = BasicLock<Traits>;
  using RLock = BasicRLock<Traits>;

  // Over a new RLock, as Python's default.
  BasicCondition() : BasicCondition(RLock()) {}
  explicit BasicCondition(Context&) : BasicCondition() {}
  explicit BasicCondition(Lock lock) : lock_(std::move(lock)), state_(make()) {}
  explicit BasicCondition(RLock lock) : lock_(std::move(lock)), state_(make()) {}
  BasicCondition(Context&, Lock lock) : BasicCondition(std::move(lock)) {}
  BasicCondition(Context&, RLock lock) : BasicCondition(std::move(lock)) {}

  // acquire(), lock(), try_lock_for(), ...: its lock's, through
  // TimedLockable.
  void release() {
    std::visit([](auto& l) { l.release(); }, lock_);
  }

  // Releases the lock (every level of an RLock), waits for a notify, takes
  // the lock back. Returns true if notified, false at the timeout. Not
  // holding the lock -> mp::AssertionError (mp::RuntimeError in mp::dummy).
  bool wait() { return wait_until(std::nullopt); }
  template <class Rep, class Period>
  bool wait(std::chrono::duration<Rep, Period> timeout) {
    return wait_until(deadline_after(timeout));
  }
  // Waits until `predicate()` holds (checked first, and after each wake-up)
  // or the timeout; returns its last value. Python's argument order.
  template <class Predicate>
  bool wait_for(Predicate predicate) {
    return wait_for_predicate(
        predicate, [this](const Deadline& d) { wait_until(d); }, std::nullopt);
  }
  template <class Predicate, class Rep, class Period>
  bool wait_for(Predicate predicate, std::chrono::duration<Rep, Period> timeout) {
    return wait_for_predicate(
        predicate, [this](const Deadline& d) { wait_until(d); }, deadline_after(timeout));
  }
  // Wakes up to n of the current waiters (oldest first). The caller must
  // hold the lock.
  void notify(int n = 1) {
    if (!holds_lock()) Traits::notify_without_lock();
    if (n > 0) condition_notify(*state_, n, Traits::kSharing);
  }
  void notify_all() { notify(ConditionState::kSlots); }

  friend bool operator==(const BasicCondition& a, const BasicCondition& b) noexcept {
    return a.state_ == b.state_;
  }

 private:
  friend struct Codec<BasicCondition>;
  friend class TimedLockable<BasicCondition>;
  bool acquire_until(const Deadline& deadline) {
    return std::visit([&deadline](auto& l) { return l.acquire_until(deadline); }, lock_);
  }
  BasicCondition(std::variant<Lock, RLock> lock,
                 typename Traits::template Storage<ConditionState> state)
      : lock_(std::move(lock)), state_(std::move(state)) {}
  static typename Traits::template Storage<ConditionState> make() {
    return Traits::template Storage<ConditionState>::create("mp-condition");
  }
  bool holds_lock() const {
    return std::visit([](const auto& l) { return l.is_mine(); }, lock_);
  }
  bool wait_until(const Deadline& deadline) {
    if (!holds_lock()) Traits::wait_without_lock();
    int slot = condition_enter(*state_);
    if (slot < 0) throw RuntimeError("too many waiters on one Condition");
    bool notified;
    if (auto* rlock = std::get_if<RLock>(&lock_)) {
      uint32_t depth = rlock_release_all(*rlock->state_, Traits::kSharing);
      notified = condition_sleep(*state_, slot, deadline, Traits::kSharing);
      rlock_restore(*rlock->state_, depth, Traits::kSharing);
    } else {
      auto& lock = std::get<Lock>(lock_);
      lock.release();
      notified = condition_sleep(*state_, slot, deadline, Traits::kSharing);
      lock.acquire();
    }
    return notified;
  }

  std::variant<Lock, RLock> lock_;
  typename Traits::template Storage<ConditionState> state_;
};

template <class Traits>
class BasicBarrier {
 public:
  using Action = void (*)();

  // Python: Barrier(parties, action=None, timeout=None). `action` runs once
  // per cycle, in the last party to arrive, before anyone leaves. parties < 1
  // -> mp::ValueError.
  explicit BasicBarrier(int parties, Action action = nullptr)
      : BasicBarrier(parties, action, std::chrono::nanoseconds(-1)) {}
  template <class Rep, class Period>
  BasicBarrier(int parties, Action action, std::chrono::duration<Rep, Period> timeout)
      : state_(make(parties, std::chrono::duration_cast<std::chrono::nanoseconds>(timeout))),
        action_(action) {}
  BasicBarrier(Context&, int parties, Action action = nullptr) : BasicBarrier(parties, action) {}
  template <class Rep, class Period>
  BasicBarrier(Context&, int parties, Action action, std::chrono::duration<Rep, Period> timeout)
      : BasicBarrier(parties, action, timeout) {}

  // Waits for all parties; returns this party's index in [0, parties),
  // exactly one party getting 0 per cycle. A broken barrier (abort, reset,
  // a timeout, a failing action) -> mp::BrokenBarrierError in every waiter.
  int wait() {
    int64_t ns = state_->default_timeout_ns;
    return wait_until(ns < 0 ? Deadline() : deadline_after(std::chrono::nanoseconds(ns)));
  }
  template <class Rep, class Period>
  int wait(std::chrono::duration<Rep, Period> timeout) {
    return wait_until(deadline_after(timeout));
  }
  // Current waiters get mp::BrokenBarrierError; the barrier is usable again.
  void reset() { barrier_reset(*state_, Traits::kSharing); }
  // Breaks the barrier until reset().
  void abort() { barrier_abort(*state_, Traits::kSharing); }
  int parties() const { return state_->parties; }
  int n_waiting() const { return barrier_n_waiting(*state_, Traits::kSharing); }
  bool broken() const { return barrier_broken(*state_, Traits::kSharing); }

  friend bool operator==(const BasicBarrier& a, const BasicBarrier& b) noexcept {
    return a.state_ == b.state_;
  }

 private:
  friend struct Codec<BasicBarrier>;
  BasicBarrier(typename Traits::template Storage<BarrierState> state, Action action)
      : state_(std::move(state)), action_(action) {}
  static typename Traits::template Storage<BarrierState> make(int parties,
                                                              std::chrono::nanoseconds timeout) {
    if (parties < 1) throw ValueError("parties must be > 0");
    auto state = Traits::template Storage<BarrierState>::create("mp-barrier");
    state->parties = parties;
    state->default_timeout_ns = timeout.count() < 0 ? -1 : timeout.count();
    return state;
  }
  int wait_until(const Deadline& deadline) {
    std::function<void()> action;
    if (action_) action = action_;
    auto index = barrier_wait(*state_, deadline, action, Traits::kSharing);
    if (!index) throw BrokenBarrierError();
    return *index;
  }

  typename Traits::template Storage<BarrierState> state_;
  Action action_;
};

}  // namespace mp::internal

namespace mp {

// mp's primitives travel to children as their shared segment's descriptor;
// a Lock, RLock, Semaphore or Event is nothing but that segment.
template <>
struct Codec<internal::BasicLock<internal::ProcessSync>>
    : internal::StateCodec<internal::BasicLock<internal::ProcessSync>> {};
template <>
struct Codec<internal::BasicRLock<internal::ProcessSync>>
    : internal::StateCodec<internal::BasicRLock<internal::ProcessSync>> {};
template <bool kBounded>
struct Codec<internal::BasicSemaphore<internal::ProcessSync, kBounded>>
    : internal::StateCodec<internal::BasicSemaphore<internal::ProcessSync, kBounded>> {};
template <>
struct Codec<internal::BasicEvent<internal::ProcessSync>>
    : internal::StateCodec<internal::BasicEvent<internal::ProcessSync>> {};
template <>
struct Codec<internal::BasicCondition<internal::ProcessSync>> {
  using T = internal::BasicCondition<internal::ProcessSync>;
  static void encode(Writer& w, const T& v) {
    Codec<std::variant<typename T::Lock, typename T::RLock>>::encode(w, v.lock_);
    v.state_.encode(w);
  }
  static T decode(Reader& r) {
    auto lock = Codec<std::variant<typename T::Lock, typename T::RLock>>::decode(r);
    return T(std::move(lock), internal::Shared<internal::ConditionState>::decode(r));
  }
};
template <>
struct Codec<internal::BasicBarrier<internal::ProcessSync>> {
  using T = internal::BasicBarrier<internal::ProcessSync>;
  static void encode(Writer& w, const T& v) {
    v.state_.encode(w);
    std::optional<internal::CodeLocation> action;
    if (v.action_) action = internal::locate_code(reinterpret_cast<const void*>(v.action_));
    Codec<std::optional<internal::CodeLocation>>::encode(w, action);
  }
  static T decode(Reader& r) {
    auto state = internal::Shared<internal::BarrierState>::decode(r);
    auto action = Codec<std::optional<internal::CodeLocation>>::decode(r);
    typename T::Action fn = nullptr;
    if (action) {
      fn = reinterpret_cast<typename T::Action>(const_cast<void*>(internal::resolve_code(*action)));
    }
    return T(std::move(state), fn);
  }
};

}  // namespace mp

#endif  // MP_INTERNAL_SYNC_SYNCHRONIZE_IMPL_H_
