#include "mp/internal/base/finalize.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <mutex>
#include <utility>
#include <vector>

#include "mp/internal/base/per_process.h"

namespace mp::internal {

namespace {

struct Registry {
  std::mutex mu;
  uint64_t next = 0;
  // Pending and finished ones; finished ones are dropped now and then.
  std::vector<std::shared_ptr<Finalizer>> entries;
};
PerProcess<Registry> g_finalizers;

// Takes `f`'s callback out if this process may run it (under the registry's
// lock, so that it runs once however many threads race).
std::function<void()> take(Finalizer& f) {
  Registry* r = g_finalizers.mine();
  if (r == nullptr || f.owner != ::getpid()) return {};
  std::lock_guard lock(r->mu);
  return std::exchange(f.callback, {});
}

}  // namespace

void register_finalizer(const std::shared_ptr<Finalizer>& f) {
  Registry& r = g_finalizers.get();
  std::lock_guard lock(r.mu);
  f->order = r.next++;
  f->owner = ::getpid();
  // Drop the entries of finalizers that ran or were cancelled, now and then.
  if (r.entries.size() >= 64 && r.entries.size() % 64 == 0) {
    std::erase_if(r.entries, [](const auto& e) { return !e->callback; });
  }
  r.entries.push_back(f);
}

bool run_finalizer(Finalizer& f) {
  std::function<void()> callback = take(f);
  if (!callback) return false;
  callback();
  return true;
}

void cancel_finalizer(Finalizer& f) noexcept { (void)take(f); }

bool finalizer_pending(const Finalizer& f) noexcept {
  Registry* r = g_finalizers.mine();
  if (r == nullptr || f.owner != ::getpid()) return false;
  std::lock_guard lock(r->mu);
  return static_cast<bool>(f.callback);
}

void run_finalizers(std::optional<int> minpriority) noexcept {
  Registry* r = g_finalizers.mine();
  if (r == nullptr) return;
  for (;;) {
    // One at a time, the highest first: a callback may register or run others.
    std::shared_ptr<Finalizer> next;
    std::function<void()> callback;
    {
      std::lock_guard lock(r->mu);
      for (const auto& f : r->entries) {
        if (!f->callback || !f->exitpriority) continue;
        if (minpriority && *f->exitpriority < *minpriority) continue;
        if (!next || *f->exitpriority > *next->exitpriority ||
            (*f->exitpriority == *next->exitpriority && f->order > next->order)) {
          next = f;
        }
      }
      if (!next) return;
      callback = std::exchange(next->callback, {});
    }
    try {
      callback();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "mp: a finalizer failed at exit: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "mp: a finalizer failed at exit\n");
    }
  }
}

bool has_finalizers() noexcept { return g_finalizers.mine() != nullptr; }

}  // namespace mp::internal
