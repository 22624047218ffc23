// mp/internal/base/snapshot.h — process-wide tables that a fork child can always
// read.
//
// A mutex held by another thread at fork() stays held in the child, where
// that thread does not exist: a child that then takes it waits forever, and
// the data it guarded may be half-updated. Tables that change rarely (the
// launch settings, the exit hooks, the manager links and servant types)
// avoid both: readers take the current snapshot with one atomic load, and
// writers publish a new one with a compare-and-swap, retrying if another
// writer got there first. A child inherits whichever snapshot was current,
// always whole, and fork() costs nothing extra (no pthread_atfork handlers,
// no page written in parent or child).
//
// Snapshots are never freed: a reader may still hold an old one. Each keeps
// its predecessor reachable, so leak checkers see no leak; writers are rare
// (settings, registrations), so the chain stays short.

#ifndef MP_INTERNAL_BASE_SNAPSHOT_H_
#define MP_INTERNAL_BASE_SNAPSHOT_H_

#include <atomic>
#include <utility>

namespace mp::internal {

template <class T>
class Snapshots {
 public:
  constexpr Snapshots() = default;
  Snapshots(const Snapshots&) = delete;
  Snapshots& operator=(const Snapshots&) = delete;

  // The current snapshot; nullptr before the first update.
  const T* current() const noexcept {
    const Node* node = head_.load(std::memory_order_acquire);
    return node ? &node->value : nullptr;
  }

  // Publishes `next` in place of `expected` (what current() returned);
  // false, publishing nothing, if another writer replaced it meanwhile.
  bool replace(const T* expected, T next) {
    auto* node = new Node{std::move(next), head_.load(std::memory_order_relaxed)};
    const Node* seen = node->previous;
    if (seen == nullptr ? expected == nullptr : &seen->value == expected) {
      if (head_.compare_exchange_strong(seen, node, std::memory_order_acq_rel)) return true;
    }
    delete node;
    return false;
  }

  // Replaces the value with `change(copy)`, retrying on contention.
  template <class Change>
  void update(Change change) {
    for (;;) {
      const T* now = current();
      T next = now ? *now : T();
      change(next);
      if (replace(now, std::move(next))) return;
    }
  }

 private:
  struct Node {
    T value;
    const Node* previous;
  };
  std::atomic<const Node*> head_{nullptr};
};

}  // namespace mp::internal

#endif  // MP_INTERNAL_BASE_SNAPSHOT_H_
