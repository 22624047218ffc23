#include "floor.h"

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace mp::bench {

SharedMapping::SharedMapping(size_t bytes) : bytes_(bytes) {
  address_ = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (address_ == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap");
}

SharedMapping::~SharedMapping() { ::munmap(address_, bytes_); }

void futex_wait(const std::atomic<uint32_t>& word, uint32_t expected, bool shared) {
  ::syscall(SYS_futex, reinterpret_cast<const uint32_t*>(&word),
            shared ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}

void futex_wake(const std::atomic<uint32_t>& word, bool shared) {
  ::syscall(SYS_futex, reinterpret_cast<const uint32_t*>(&word),
            shared ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

pid_t Party::fork_or_die() {
  pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  return pid;
}

void Party::exit_child() { ::_exit(0); }

Party::~Party() {
  if (thread_.joinable()) thread_.join();
  if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
}

void add_floors(const std::string& scenario, const Args& args,
                std::function<void(benchmark::State&, Parties)> fn, benchmark::TimeUnit unit) {
  for (auto [impl, parties] :
       {std::pair{"floor", Parties::kProcesses}, std::pair{"floor-threads", Parties::kThreads}}) {
    add(scenario, impl, args, [fn, parties = parties](benchmark::State& s) {
      fn(s, parties);
    })->Unit(unit);
  }
}

namespace {

// The mailbox of roundtrip_floor: `turn` odd while a request waits, even
// while a reply waits (or nothing does); `stop` ends the partner. The
// message lies in the bytes after it (Shared::extra).
struct Mailbox {
  Signal turn;
  alignas(64) std::atomic<uint32_t> stop{0};
};

}  // namespace

void roundtrip_floor(benchmark::State& state, const std::vector<std::pair<int64_t, int64_t>>& trips,
                     Parties parties) {
  size_t largest = 1;
  for (const auto& [request, reply] : trips) {
    largest = std::max({largest, static_cast<size_t>(request), static_cast<size_t>(reply)});
  }
  Shared<Mailbox> box(largest);
  box->turn.use_by(parties);
  std::byte* const message = box.extra();
  std::vector<std::byte> request_bytes(largest, std::byte{'q'});
  std::vector<std::byte> reply_bytes(largest, std::byte{'r'});
  std::vector<std::byte> received(largest);
  {
    Party partner(parties, [&] {
      std::vector<std::byte> in(largest);
      // The parent makes its trips in order: the partner's k-th answer is
      // to trip k % trips.size().
      for (uint32_t turn = 1, k = 0;; turn += 2, k = (k + 1) % trips.size()) {
        box->turn.wait_for(turn);
        if (box->stop.load(std::memory_order_acquire)) return;
        std::memcpy(in.data(), message, static_cast<size_t>(trips[k].first));
        benchmark::DoNotOptimize(in.data());
        std::memcpy(message, reply_bytes.data(), static_cast<size_t>(trips[k].second));
        box->turn.store(turn + 1);
      }
    });
    uint32_t turn = 0;
    auto item = [&] {
      for (const auto& [request, reply] : trips) {
        std::memcpy(message, request_bytes.data(), static_cast<size_t>(request));
        box->turn.store(++turn);
        box->turn.wait_for(++turn);
        std::memcpy(received.data(), message, static_cast<size_t>(reply));
        benchmark::DoNotOptimize(received.data());
      }
    };
    item();  // the partner is running
    for (auto _ : state) item();
    box->stop.store(1, std::memory_order_release);
    box->turn.store(++turn);
  }
  state.SetItemsProcessed(state.iterations());
}

namespace {

struct ContendedShared {
  // The counter on the lock's cache line: one line moves per critical
  // section, the cheapest layout there is.
  struct alignas(64) {
    std::atomic<uint32_t> word{0};
    int64_t counter = 0;
  } locked;
  Signal go;    // rounds started
  Signal done;  // parties' rounds finished
  alignas(64) std::atomic<uint32_t> stop{0};
};

}  // namespace

void contended_increment_floor(benchmark::State& state, int64_t increments, Increment how,
                               Parties parties) {
  Shared<ContendedShared> f;
  f->go.use_by(parties);
  f->done.use_by(parties);
  auto body = [&f, increments, how] {
    for (uint32_t seen = 0;;) {
      seen = f->go.wait_change(seen);
      if (f->stop.load()) return;
      if (how == Increment::kAtomic) {
        std::atomic_ref<int64_t> counter(f->locked.counter);
        for (int64_t i = 0; i < increments; ++i) counter.fetch_add(1, std::memory_order_relaxed);
      } else {
        for (int64_t i = 0; i < increments; ++i) {
          spin_lock(f->locked.word);
          ++f->locked.counter;
          spin_unlock(f->locked.word);
        }
      }
      f->done.advance();
    }
  };
  {
    Party a(parties, body), b(parties, body);
    uint32_t target = 0;
    auto round = [&f, &target] {
      target += 2;
      f->go.advance();
      f->done.wait_for(target);
    };
    round();  // both parties are running
    for (auto _ : state) round();
    f->stop = 1;
    f->go.advance();
  }
  if (f->locked.counter != (static_cast<int64_t>(state.iterations()) + 1) * 2 * increments) {
    state.SkipWithError("lost increments");
  }
  state.SetItemsProcessed(state.iterations() * 2 * increments);
}

int serve_forks(int fd) {
  char c;
  while (::read(fd, &c, 1) == 1) {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    if (pid < 0 || ::waitpid(pid, nullptr, 0) != pid || ::write(fd, &c, 1) != 1) return 1;
  }
  return 0;
}

}  // namespace mp::bench
