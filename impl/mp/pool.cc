#include "mp/pool.h"

#include <memory>
#include <utility>

namespace mp {
namespace internal {

std::shared_ptr<internal::PoolCore> make_pool_core(Context* ctx, const PoolOptions& options,
                                                   internal::Sharing sharing) {
  internal::PoolConfig c;
  c.processes = options.processes.value_or(cpu_count());
  if (options.maxtasksperchild) {
    if (*options.maxtasksperchild < 1) {
      throw ValueError("maxtasksperchild must be a positive int or None");
    }
    c.maxtasksperchild = *options.maxtasksperchild;
  }
  if (options.task_timeout) {
    if (options.task_timeout->count() <= 0) throw ValueError("task_timeout must be positive");
    c.task_timeout = *options.task_timeout;
  }
  c.initializer = options.initializer.spec();
  c.context = ctx;
  c.sharing = sharing;
  if (c.initializer && sharing == internal::Sharing::kProcesses && !c.initializer->binder &&
      (ctx ? ctx->get_start_method() : get_start_method()) != "fork") {
    throw PicklingError(c.initializer->target.not_transferable);
  }
  return std::make_shared<internal::PoolCore>(std::move(c));
}

}  // namespace internal

using internal::make_pool_core;

Pool::Pool() : Pool(PoolOptions{}) {}
Pool::Pool(int processes) : Pool(PoolOptions{.processes = processes}) {}
Pool::Pool(const PoolOptions& options)
    : Impl(make_pool_core(nullptr, options, internal::Sharing::kProcesses)) {}
Pool::Pool(Context& ctx, const PoolOptions& options)
    : Impl(make_pool_core(&ctx, options, internal::Sharing::kProcesses)) {}
Pool::Pool(Context& ctx, int processes) : Pool(ctx, PoolOptions{.processes = processes}) {}

namespace dummy {

Pool::Pool() : Pool(PoolOptions{}) {}
Pool::Pool(int processes) : Pool(PoolOptions{.processes = processes}) {}
Pool::Pool(const PoolOptions& options)
    : Impl(make_pool_core(nullptr, options, internal::Sharing::kThreads)) {}

}  // namespace dummy
}  // namespace mp
