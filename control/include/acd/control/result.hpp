// "Done, or why not": what every control-plane function that can fail returns. A Result<T> holds
// either the T it produced or a Failure — a code from the control socket's vocabulary
// (control_error.hpp) and a message a user can act on; Result<void> holds nothing or a Failure.
// Both are [[nodiscard]]: ignoring one is a compile error in developer builds.
//
// GCC 12 has no std::expected in C++20 mode. Boost.Outcome (libboost-dev, already a dependency)
// would do, but a std::variant of two alternatives says the same in a page and keeps its policy
// machinery out of every control-plane translation unit; the interface follows std::expected's
// spirit (ok(), value(), failure()) so that moving to it later is a rename.
//
// A check that collects MANY problems (a configuration file's, each with FILE:LINE) is not one
// failure: those return their list of problems (ConfigResult, check_startup), not a Result.
//
// Thread-safety: a value type; no shared state.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "acd/control/control_error.hpp"

namespace acd::control {

// Why something was not done.
struct Failure {
  ControlError code = ControlError::Refused;
  std::string message;  // what went wrong and, where there is one, what to do about it
};

template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::decay_t<T>, Failure>, "a Result<Failure> says nothing");
  static_assert(!std::is_reference_v<T>, "a Result holds a value");

 public:
  // Implicit both ways, so that a function returns either `value` or `Failure{code, message}`.
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  Result(Failure failure) : state_(std::in_place_index<1>, std::move(failure)) {}

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // Precondition: ok(). Asking a failure for its value is a bug, caught by the assert in tests.
  T& value() & {
    assert(ok());
    return std::get<0>(state_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(state_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(state_));
  }

  // Precondition: !ok().
  const Failure& failure() const {
    assert(!ok());
    return std::get<1>(state_);
  }

 private:
  std::variant<T, Failure> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;  // done: `return {};`
  Result(Failure failure) : failure_(std::move(failure)) {}

  bool ok() const { return !failure_.has_value(); }
  explicit operator bool() const { return ok(); }

  // Precondition: !ok().
  const Failure& failure() const {
    assert(!ok());
    return *failure_;
  }

 private:
  std::optional<Failure> failure_;
};

}  // namespace acd::control
