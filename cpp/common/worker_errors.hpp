// Carries an exception out of an OpenMP parallel region: an exception may
// not leave a worker thread (std::terminate), so each worker catches it and
// the caller's thread re-throws the first one after the region.
#pragma once

#include <exception>

namespace pyanimf {

class WorkerErrors {
  public:
    // Call from a catch block inside the parallel region.
    void capture() noexcept {
#pragma omp critical(pyanimf_worker_errors)
        if (!first_) first_ = std::current_exception();
    }

    bool any() const noexcept { return static_cast<bool>(first_); }

    // Call on the caller's thread after the parallel region.
    void rethrow_if_any() const {
        if (first_) std::rethrow_exception(first_);
    }

  private:
    std::exception_ptr first_;
};

}  // namespace pyanimf
