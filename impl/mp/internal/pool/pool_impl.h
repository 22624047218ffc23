// mp/internal/pool/pool_impl.h — the machinery behind mp/pool.h: how a pool
// call becomes chunks of encoded tasks (code_prefix, chunk_puller), the jobs
// that gather their results (ResultState, MapJob, IMapJob, IMapState), and
// BasicPool, written once over ProcessSync (mp::Pool) and ThreadSync
// (mp::dummy::Pool). mp::PoolProxy (managers.h) reuses the chunking.

#ifndef MP_INTERNAL_POOL_POOL_IMPL_H_
#define MP_INTERNAL_POOL_POOL_IMPL_H_

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "mp/errors.h"
#include "mp/internal/base/sharing.h"
#include "mp/internal/base/target.h"
#include "mp/internal/pool/pool_core.h"
#include "mp/reduction.h"

namespace mp {

// The options and result types of mp/pool.h, which BasicPool's calls take
// and return.
struct PoolOptions;
template <class T>
struct AsyncOptions;
template <class T>
class AsyncResult;
template <class R>
class IMapIterator;

namespace internal {

// The core of a pool as `options` describe it, checked as Python checks
// Pool's arguments (mp::ValueError, mp::PicklingError). `ctx` null: the
// default context. (mp/pool.cc; mp::Pool's constructors and a manager's
// pools call it.)
std::shared_ptr<PoolCore> make_pool_core(Context* ctx, const PoolOptions& options, Sharing sharing);

template <class F>
using fn_ptr_t = decltype(+std::declval<std::decay_t<F>>());
template <class F>
using pool_result_t = typename function_traits<fn_ptr_t<F>>::result;

// After the first of `count` items was encoded from `before` on: makes room
// for the rest at that size at once, instead of regrowing (and copying) the
// buffer again and again.
inline void reserve_like_first(Writer& w, size_t before, size_t count) {
  std::string& bytes = w.bytes();
  bytes.reserve(bytes.size() + (bytes.size() - before) * (count - 1) + 64);
}

// True when a chunk's arguments and results both have fixed-size encodings:
// such chunks are laid out as arrays, read and written in place, and large
// ones travel through the pool's arena instead of the rings.
template <class Arg, class R>
constexpr bool fixed_chunk() {
  return fixed_encoding_size<Arg>() > 0 && fixed_encoding_size<R>() > 0 &&
         std::is_default_constructible_v<Arg>;
}

// Runs one chunk in a worker: `count` arguments in, `count` results out,
// into `out`, or into `direct` (the chunk's room in the arena) when given.
template <class Fn, class Arg, bool kStar>
void run_chunk(const void* target, Reader& in, Writer& out, std::span<char> direct) {
  auto fn = reinterpret_cast<Fn>(const_cast<void*>(target));
  using R = typename function_traits<Fn>::result;
  const auto n = in.read_pod<uint32_t>();
  if constexpr (fixed_chunk<Arg, R>()) {
    // Read the arguments in place and write the results into space made
    // once, not item by item.
    constexpr size_t kArgSize = fixed_encoding_size<Arg>(), kResultSize = fixed_encoding_size<R>();
    const char* src = in.read_view(size_t{n} * kArgSize).data();
    char* dst;
    if (direct.empty()) {
      out.write_pod(n);
      std::string& bytes = out.bytes();
      const size_t at = bytes.size();
      bytes.resize(at + size_t{n} * kResultSize);
      dst = bytes.data() + at;
    } else {
      if (direct.size() != sizeof(n) + size_t{n} * kResultSize) {
        throw PicklingError("a chunk's room for results does not match its arguments");
      }
      std::memcpy(direct.data(), &n, sizeof(n));
      dst = direct.data() + sizeof(n);
    }
    for (uint32_t i = 0; i < n; ++i) {
      Arg arg;
      load_fixed(src + size_t{i} * kArgSize, arg);
      if constexpr (kStar) {
        store_fixed(dst + size_t{i} * kResultSize, R(std::apply(fn, arg)));
      } else {
        store_fixed(dst + size_t{i} * kResultSize, R(fn(arg)));
      }
    }
  } else {
    if (!direct.empty()) throw PicklingError("only fixed-size items travel through the arena");
    out.write_pod(n);
    for (uint32_t i = 0; i < n; ++i) {
      const size_t before = out.bytes().size();
      if constexpr (kStar) {
        Codec<R>::encode(out, std::apply(fn, Codec<Arg>::decode(in)));
      } else {
        Codec<R>::encode(out, fn(Codec<Arg>::decode(in)));
      }
      if (i == 0) reserve_like_first(out, before, n);
    }
  }
}

// Where a chunk's code lives, encoded once per call.
template <class Fn, class Arg, bool kStar>
std::string code_prefix(Fn fn) {
  Writer w;
  encode(w, locate_code(reinterpret_cast<const void*>(&run_chunk<Fn, Arg, kStar>)));
  encode(w, locate_code(reinterpret_cast<const void*>(fn)));
  return std::move(w.bytes());
}

template <class Arg, class X>
void encode_arg(Writer& w, const X& x) {
  if constexpr (std::is_same_v<std::remove_cvref_t<X>, Arg>) {
    Codec<Arg>::encode(w, x);
  } else {
    Codec<Arg>::encode(w, Arg(x));
  }
}

// The state behind an AsyncResult.
template <class T>
struct ResultState {
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false;
  std::optional<T> value;
  std::exception_ptr error;
  std::function<void(const T&)> callback;
  std::function<void(std::exception_ptr)> error_callback;

  void set_value(T v) {
    // Python runs the callback before the result counts as ready.
    if (callback) {
      try {
        callback(v);
      } catch (...) {
      }
    }
    std::lock_guard lock(mu);
    value = std::move(v);
    ready = true;
    cv.notify_all();
  }
  void set_error(std::exception_ptr e) {
    if (error_callback) {
      try {
        error_callback(e);
      } catch (...) {
      }
    }
    std::lock_guard lock(mu);
    error = std::move(e);
    ready = true;
    cv.notify_all();
  }
};

// map / starmap / apply: `n` results in chunks of `chunksize`.
template <class R, bool kSingle>
class MapJob final : public PoolJob {
 public:
  using Out = std::conditional_t<kSingle, R, std::vector<R>>;
  MapJob(std::shared_ptr<ResultState<Out>> state, size_t n, size_t chunksize)
      : state_(std::move(state)),
        values_(n),
        chunksize_(chunksize),
        remaining_(chunksize ? (n + chunksize - 1) / chunksize : 0) {}

  bool deliver(uint32_t chunk, Reader& r) override {
    std::unique_lock lock(mu_);
    if (done_) return true;
    const auto k = r.read_pod<uint32_t>();
    const size_t base = size_t{chunk} * chunksize_;
    if (base + k > values_.size()) throw PicklingError("a result chunk does not fit its job");
    if constexpr (fixed_encoding_size<R>() > 0) {
      const char* src = r.read_view(size_t{k} * fixed_encoding_size<R>()).data();
      for (uint32_t i = 0; i < k; ++i)
        load_fixed(src + size_t{i} * fixed_encoding_size<R>(), values_[base + i]);
    } else {
      for (uint32_t i = 0; i < k; ++i) values_[base + i] = Codec<R>::decode(r);
    }
    if (--remaining_ > 0) return false;
    done_ = true;
    lock.unlock();
    if constexpr (kSingle) {
      state_->set_value(std::move(values_[0]));
    } else {
      state_->set_value(std::move(values_));
    }
    return true;
  }
  bool fail(uint32_t, std::exception_ptr e) override {
    std::unique_lock lock(mu_);
    if (done_) return true;
    done_ = true;  // Python: the first failure decides the whole map
    lock.unlock();
    state_->set_error(std::move(e));
    return true;
  }
  void fail_all(std::exception_ptr e) override { fail(0, std::move(e)); }
  // Everything was submitted: a job with nothing to run is ready at once.
  void finish_empty() {
    if (remaining_ == 0) {
      done_ = true;
      if constexpr (!kSingle) state_->set_value({});
    }
  }

 private:
  std::shared_ptr<ResultState<Out>> state_;
  std::mutex mu_;
  std::vector<R> values_;
  size_t chunksize_;
  size_t remaining_;
  bool done_ = false;
};

// imap / imap_unordered: results kept until the caller takes them.
template <class R>
class IMapJob final : public PoolJob {
 public:
  explicit IMapJob(bool ordered) : ordered_(ordered) {}

  bool deliver(uint32_t chunk, Reader& r) override {
    const auto k = r.read_pod<uint32_t>();
    std::vector<R> got;
    got.reserve(k);
    for (uint32_t i = 0; i < k; ++i) got.push_back(Codec<R>::decode(r));
    std::lock_guard lock(mu);
    if (ordered_) {
      chunks.emplace(chunk, std::move(got));
    } else {
      for (auto& v : got) unordered.push_back(std::move(v));
      ++arrived;
    }
    cv.notify_all();
    return false;  // the iterator drops the job when it is done
  }
  bool fail(uint32_t chunk, std::exception_ptr e) override {
    std::lock_guard lock(mu);
    if (ordered_) {
      errors.emplace(chunk, std::move(e));
    } else {
      unordered_errors.push_back(std::move(e));
      ++arrived;
    }
    cv.notify_all();
    return false;
  }
  void fail_all(std::exception_ptr e) override {
    std::lock_guard lock(mu);
    terminated = std::move(e);
    cv.notify_all();
  }

  std::mutex mu;
  std::condition_variable cv;
  const bool ordered_;
  std::map<uint32_t, std::vector<R>> chunks;      // ordered: by chunk
  std::map<uint32_t, std::exception_ptr> errors;  // ordered: by chunk
  std::deque<R> unordered;
  std::deque<std::exception_ptr> unordered_errors;
  uint32_t arrived = 0;  // unordered: chunks answered
  std::exception_ptr terminated;
};

template <class Sync>
class BasicPool;

// Thrown by an imap input puller that has nothing more to read.
struct EndOfInput {};

// Reads `xs` lazily, `chunksize` items a call: each call writes a chunk's
// count and arguments (Python: imap's task batches), throws EndOfInput when
// nothing is left, and passes on what the input throws. Keeps the input's
// view alive.
template <class Arg, class Range>
std::function<void(Writer&)> chunk_puller(Range&& xs, int chunksize) {
  auto input = std::make_shared<std::views::all_t<Range>>(std::views::all(std::forward<Range>(xs)));
  auto at = std::make_shared<std::ranges::iterator_t<std::views::all_t<Range>>>(
      std::ranges::begin(*input));
  return [input, at, chunksize](Writer& w) {
    w.write_pod<uint32_t>(0);
    const size_t count_at = w.bytes().size() - sizeof(uint32_t);
    uint32_t k = 0;
    for (; k < static_cast<uint32_t>(chunksize) && *at != std::ranges::end(*input); ++k, ++*at) {
      encode_arg<Arg>(w, **at);
    }
    std::memcpy(w.bytes().data() + count_at, &k, sizeof(k));
    if (k == 0) throw EndOfInput{};
  };
}

// A single-pass iterator over what owner->next() hands out, up to nullopt.
template <class Owner, class R>
class PullIterator {
 public:
  using value_type = R;
  using difference_type = std::ptrdiff_t;
  PullIterator() = default;
  explicit PullIterator(Owner* owner) : owner_(owner), current_(owner->next()) {}
  const R& operator*() const { return *current_; }
  PullIterator& operator++() {
    current_ = owner_->next();
    return *this;
  }
  void operator++(int) { ++*this; }
  friend bool operator==(const PullIterator& it, std::default_sentinel_t) { return !it.current_; }

 private:
  Owner* owner_ = nullptr;
  std::optional<R> current_;
};

// The state behind an IMapIterator: the chunks submitted and taken, the
// results of the chunk being handed out, and the input, read only as far as
// `limit` chunks in flight need.
template <class R>
struct IMapState {
  std::shared_ptr<PoolCore> core;
  std::shared_ptr<IMapJob<R>> job;
  uint64_t id = 0;
  std::string prefix;
  // Encodes the next chunk's count and arguments. Throws EndOfInput when
  // there is none, and what the input throws.
  std::function<void(Writer&)> pull;
  uint32_t submitted = 0;  // chunks
  uint32_t yielded = 0;    // chunks handed out (ordered) / answered and taken (unordered)
  uint32_t limit = 0;      // chunks in flight at most
  bool input_done = false;
  std::exception_ptr input_error;
  std::deque<R> buffer;  // ordered: the current chunk's remaining results
  bool finished = false;

  ~IMapState() {
    if (core && id) core->drop_job(id);
  }

  void top_up() {
    while (!input_done && submitted - yielded < limit) {
      try {
        core->submit(id, submitted, prefix, [&](Writer& w) { pull(w); });
      } catch (const EndOfInput&) {
        input_done = true;  // nothing was queued
        return;
      } catch (...) {
        // Python: the chunk being read is dropped; what came before is
        // delivered, then this is raised.
        input_error = std::current_exception();
        input_done = true;
        return;
      }
      ++submitted;
    }
  }

  std::optional<R> next() {
    if (finished) return std::nullopt;
    if (!buffer.empty()) {
      R v = std::move(buffer.front());
      buffer.pop_front();
      return v;
    }
    for (;;) {
      top_up();
      std::unique_lock lock(job->mu);
      if (job->ordered_) {
        if (auto it = job->chunks.find(yielded); it != job->chunks.end()) {
          auto values = std::move(it->second);
          job->chunks.erase(it);
          ++yielded;
          lock.unlock();
          if (values.empty()) continue;
          for (size_t i = 1; i < values.size(); ++i) buffer.push_back(std::move(values[i]));
          return std::move(values[0]);
        }
        if (auto it = job->errors.find(yielded); it != job->errors.end()) {
          auto e = it->second;
          job->errors.erase(it);
          ++yielded;
          std::rethrow_exception(e);
        }
      } else {
        if (!job->unordered.empty()) {
          R v = std::move(job->unordered.front());
          job->unordered.pop_front();
          return v;
        }
        if (!job->unordered_errors.empty()) {
          auto e = job->unordered_errors.front();
          job->unordered_errors.pop_front();
          std::rethrow_exception(e);
        }
        yielded = job->arrived;  // every answered chunk has been taken
      }
      if (job->terminated) std::rethrow_exception(job->terminated);
      if (input_done && yielded == submitted) {
        finished = true;
        if (input_error) std::rethrow_exception(std::exchange(input_error, nullptr));
        return std::nullopt;
      }
      if (!input_done && submitted - yielded < limit) continue;
      job->cv.wait(lock);
    }
  }
};

template <class Sync>
class BasicPool {
 public:
  // A pool over `core` (mp::Pool's constructors make it from PoolOptions).
  explicit BasicPool(std::shared_ptr<PoolCore> core) : core_(std::move(core)) {}

  BasicPool(const BasicPool&) = delete;
  BasicPool& operator=(const BasicPool&) = delete;
  BasicPool(BasicPool&&) noexcept = default;
  BasicPool& operator=(BasicPool&&) noexcept = default;
  // Python's `with Pool() as p:` ends with terminate(); so does this, and
  // joins.
  ~BasicPool() {
    if (!core_) return;  // moved from
    try {
      core_->terminate();
      core_->join();
    } catch (...) {
    }
  }

  // Python: map(func, iterable, chunksize=None). Reads all of `xs` first;
  // the first failing task's exception is rethrown.
  template <class F, class Range>
  auto map(F f, Range&& xs, std::optional<int> chunksize = std::nullopt) {
    return map_async(f, std::forward<Range>(xs), {.chunksize = chunksize}).take_once();
  }
  template <class F, class Range>
  auto starmap(F f, Range&& xs, std::optional<int> chunksize = std::nullopt) {
    return starmap_async(f, std::forward<Range>(xs), {.chunksize = chunksize}).take_once();
  }
  template <class F, class Range>
  AsyncResult<std::vector<pool_result_t<F>>> map_async(
      F f, Range&& xs, const AsyncOptions<std::vector<pool_result_t<F>>>& options = {}) {
    using Fn = fn_ptr_t<F>;
    static_assert(function_traits<Fn>::arity == 1, "map() takes a function of one argument");
    using Arg = std::tuple_element_t<0, typename function_traits<Fn>::args>;
    return submit_map<Fn, Arg, false>(+f, std::forward<Range>(xs), options);
  }
  template <class F, class Range>
  AsyncResult<std::vector<pool_result_t<F>>> starmap_async(
      F f, Range&& xs, const AsyncOptions<std::vector<pool_result_t<F>>>& options = {}) {
    using Fn = fn_ptr_t<F>;
    using Arg = typename function_traits<Fn>::args;
    return submit_map<Fn, Arg, true>(+f, std::forward<Range>(xs), options);
  }

  // Python: apply(func, args). Runs in one worker; rethrows its exception.
  template <class F, class... A>
    requires FunctionPointerLike<std::decay_t<F>>
  pool_result_t<F> apply(F f, A&&... args) {
    return apply_async(f, std::forward<A>(args)...).take_once();
  }
  template <class F, class... A>
    requires FunctionPointerLike<std::decay_t<F>>
  AsyncResult<pool_result_t<F>> apply_async(F f, A&&... args) {
    return apply_async(AsyncOptions<pool_result_t<F>>{}, f, std::forward<A>(args)...);
  }
  // With callback / error_callback: apply_async({.callback = ...}, &f, args...).
  template <class F, class... A>
    requires FunctionPointerLike<std::decay_t<F>>
  AsyncResult<pool_result_t<F>> apply_async(const AsyncOptions<pool_result_t<F>>& options, F f,
                                            A&&... args) {
    using Fn = fn_ptr_t<F>;
    using R = pool_result_t<F>;
    using Arg = typename function_traits<Fn>::args;
    static_assert(!std::is_void_v<R>, "pool tasks return a value");
    auto state = std::make_shared<ResultState<R>>();
    state->callback = options.callback;
    state->error_callback = options.error_callback;
    auto job = std::make_shared<MapJob<R, true>>(state, 1, 1);
    const uint64_t id = core_->add_job(job);
    Arg packed(std::forward<A>(args)...);
    core_->submit(id, 0, code_prefix<Fn, Arg, true>(+f), [&](Writer& w) {
      w.write_pod<uint32_t>(1);
      Codec<Arg>::encode(w, packed);
    });
    return AsyncResult<R>(state);
  }

  // Python: imap(func, iterable, chunksize=1); results in input order.
  template <class F, class Range>
  IMapIterator<pool_result_t<F>> imap(F f, Range&& xs, int chunksize = 1) {
    return make_imap<F>(f, std::forward<Range>(xs), chunksize, true);
  }
  // Python: imap_unordered(func, iterable, chunksize=1); results as they come.
  template <class F, class Range>
  IMapIterator<pool_result_t<F>> imap_unordered(F f, Range&& xs, int chunksize = 1) {
    return make_imap<F>(f, std::forward<Range>(xs), chunksize, false);
  }

  // Python: close(): no new tasks; workers leave when the queued ones are done.
  void close() { core_->close(); }
  // Python: terminate(): kills the workers now; unfinished tasks fail.
  void terminate() { core_->terminate(); }
  // Python: join(): waits for the workers; before close/terminate -> mp::ValueError.
  void join() { core_->join(); }

  // mp: the pids of the live workers (empty for a thread pool).
  std::vector<pid_t> worker_pids() const { return core_->worker_pids(); }
  int processes() const noexcept { return core_->processes(); }

 private:
  template <class Fn, class Arg, bool kStar, class Range>
  auto submit_map(Fn fn, Range&& xs,
                  const AsyncOptions<std::vector<typename function_traits<Fn>::result>>& options) {
    using R = typename function_traits<Fn>::result;
    static_assert(!std::is_void_v<R>, "pool tasks return a value");
    static_assert(std::is_default_constructible_v<R>,
                  "map() results must be default-constructible");
    if constexpr (!std::ranges::sized_range<Range>) {
      // Python turns such an input into a list first, and so does this.
      std::vector<std::ranges::range_value_t<Range>> all;
      for (auto&& x : xs) all.push_back(x);
      return submit_map<Fn, Arg, kStar>(fn, all, options);
    } else {
      if (options.chunksize && *options.chunksize < 1) {
        throw ValueError("Chunksize must be 1+, not " + std::to_string(*options.chunksize));
      }
      const size_t n = std::ranges::size(xs);
      size_t chunksize;
      if (options.chunksize) {
        chunksize = static_cast<size_t>(*options.chunksize);
      } else {
        const size_t parts = size_t{4} * static_cast<size_t>(core_->processes());
        chunksize = (n + parts - 1) / parts;
      }
      auto state = std::make_shared<ResultState<std::vector<R>>>();
      state->callback = options.callback;
      state->error_callback = options.error_callback;
      auto job = std::make_shared<MapJob<R, false>>(state, n, chunksize);
      const uint64_t id = core_->add_job(job);
      if (n == 0) {
        core_->drop_job(id);
        job->finish_empty();
        return AsyncResult<std::vector<R>>(state);
      }
      const std::string prefix = code_prefix<Fn, Arg, kStar>(fn);
      auto it = std::ranges::begin(xs);
      try {
        for (size_t start = 0, chunk = 0; start < n; start += chunksize, ++chunk) {
          const size_t k = std::min(chunksize, n - start);
          constexpr size_t kArgSize = fixed_encoding_size<Arg>();
          // Writes the chunk's count and arguments, as an array, at `to`
          // (generic, so that it is compiled only for fixed-size arguments).
          auto store_args = [&](auto* to) {
            const auto count = static_cast<uint32_t>(k);
            std::memcpy(to, &count, sizeof(count));
            to += sizeof(count);
            // Local copies: the stores through `to` may alias anything, and
            // would otherwise reload the iterator from memory item by item.
            auto cur = it;
            for (size_t i = 0, end = k; i < end; ++i, ++cur) {
              if constexpr (std::is_same_v<std::remove_cvref_t<decltype(*cur)>, Arg>) {
                store_fixed(to + i * kArgSize, *cur);
              } else {
                store_fixed(to + i * kArgSize, Arg(*cur));
              }
            }
            it = cur;
          };
          if constexpr (fixed_chunk<Arg, R>()) {
            constexpr size_t kResultSize = fixed_encoding_size<R>();
            if (k * (kArgSize + kResultSize) >= PoolCore::kArenaMinBytes &&
                core_->submit_in_arena(id, static_cast<uint32_t>(chunk), prefix,
                                       sizeof(uint32_t) + k * kArgSize,
                                       sizeof(uint32_t) + k * kResultSize, store_args)) {
              continue;
            }
          }
          core_->submit(id, static_cast<uint32_t>(chunk), prefix, [&](Writer& w) {
            if constexpr (kArgSize > 0) {
              std::string& bytes = w.bytes();
              const size_t at = bytes.size();
              bytes.resize(at + sizeof(uint32_t) + k * kArgSize);
              store_args(bytes.data() + at);
            } else {
              w.write_pod(static_cast<uint32_t>(k));
              for (size_t i = 0; i < k; ++i, ++it) {
                const size_t before = w.bytes().size();
                encode_arg<Arg>(w, *it);
                if (i == 0) reserve_like_first(w, before, k);
              }
            }
          });
        }
      } catch (...) {
        // Python re-raises what the input (or encoding) threw; chunks already
        // queued run, and their results are dropped.
        core_->drop_job(id);
        throw;
      }
      return AsyncResult<std::vector<R>>(state);
    }
  }

  template <class F, class Range>
  IMapIterator<pool_result_t<F>> make_imap(F f, Range&& xs, int chunksize, bool ordered) {
    using Fn = fn_ptr_t<F>;
    using R = pool_result_t<F>;
    static_assert(function_traits<Fn>::arity == 1, "imap() takes a function of one argument");
    using Arg = std::tuple_element_t<0, typename function_traits<Fn>::args>;
    if (chunksize < 1) throw ValueError("Chunksize must be 1+, not " + std::to_string(chunksize));
    auto s = std::make_shared<IMapState<R>>();
    s->core = core_;
    s->job = std::make_shared<IMapJob<R>>(ordered);
    s->id = core_->add_job(s->job);
    s->prefix = code_prefix<Fn, Arg, false>(+f);
    // In flight at most: enough to keep every worker busy while the caller
    // reads, and no more (bounded memory whatever the input's length).
    const auto per = static_cast<uint32_t>(std::max(1, 4096 / chunksize));
    s->limit = std::max<uint32_t>(8u * static_cast<uint32_t>(core_->processes()), per);
    s->pull = chunk_puller<Arg>(std::forward<Range>(xs), chunksize);
    return IMapIterator<R>(std::move(s));
  }

  std::shared_ptr<PoolCore> core_;
};

}  // namespace internal
}  // namespace mp

#endif  // MP_INTERNAL_POOL_POOL_IMPL_H_
