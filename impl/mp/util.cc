#include "mp/util.h"

#include <cstdio>
#include <exception>
#include <utility>

#include "mp/errors.h"

namespace mp::util {

Finalize::Finalize(std::function<void()> callback, FinalizeOptions options)
    : state_(std::make_shared<internal::Finalizer>()) {
  if (!callback) throw ValueError("Finalize needs a callback");
  state_->callback = std::move(callback);
  state_->exitpriority = options.exitpriority;
  internal::register_finalizer(state_);
}

Finalize::Finalize(std::nullptr_t, std::function<void()> callback, FinalizeOptions options)
    : state_(std::make_shared<internal::Finalizer>()), tied_(false) {
  if (!callback) throw ValueError("Finalize needs a callback");
  if (!options.exitpriority) throw ValueError("Without object, exitpriority cannot be None");
  state_->callback = std::move(callback);
  state_->exitpriority = options.exitpriority;
  internal::register_finalizer(state_);
}

Finalize& Finalize::operator=(Finalize&& other) noexcept {
  if (this != &other) {
    finish();
    state_ = std::move(other.state_);
    tied_ = other.tied_;
  }
  return *this;
}

Finalize::~Finalize() { finish(); }

void Finalize::finish() noexcept {
  if (!state_ || !tied_) return;
  try {
    internal::run_finalizer(*state_);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mp: a finalizer failed: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "mp: a finalizer failed\n");
  }
}

void Finalize::operator()() {
  if (state_) internal::run_finalizer(*state_);
}

void Finalize::cancel() noexcept {
  if (state_) internal::cancel_finalizer(*state_);
}

bool Finalize::still_active() const noexcept {
  return state_ && internal::finalizer_pending(*state_);
}

void run_finalizers(std::optional<int> minpriority) { internal::run_finalizers(minpriority); }

}  // namespace mp::util
