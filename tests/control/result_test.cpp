// Result<T> and Result<void>: a value or a Failure, never both; the value moves out without a copy;
// the control socket's answer is made from either, in the two shapes acdctl reads.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "acd/control/result.hpp"
#include "answer.hpp"  // control/src: the answer shapes, internal to the control part

namespace acd::control {
namespace {

Result<int> half(int n) {
  if (n % 2 != 0) {
    return Failure{ControlError::Usage, std::to_string(n) + " is odd"};
  }
  return n / 2;
}

Result<void> must_be_positive(int n) {
  if (n <= 0) {
    return Failure{ControlError::Refused, "not positive"};
  }
  return {};
}

// A value is ok and gives it back; a failure is not ok and gives its code and message.
TEST(Result, HoldsAValueOrAFailure) {
  const Result<int> four = half(8);
  ASSERT_TRUE(four.ok());
  EXPECT_TRUE(static_cast<bool>(four));
  EXPECT_EQ(four.value(), 4);

  const Result<int> odd = half(7);
  ASSERT_FALSE(odd.ok());
  EXPECT_FALSE(static_cast<bool>(odd));
  EXPECT_EQ(odd.failure().code, ControlError::Usage);
  EXPECT_EQ(odd.failure().message, "7 is odd");
}

// Result<void> is done by default and carries only a failure.
TEST(Result, VoidIsDoneOrAFailure) {
  EXPECT_TRUE(must_be_positive(1).ok());
  const Result<void> refused = must_be_positive(0);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.failure().code, ControlError::Refused);
  EXPECT_EQ(refused.failure().message, "not positive");
}

// A move-only value goes in and comes out by move: a Result can carry ownership.
TEST(Result, MovesItsValueOut) {
  Result<std::unique_ptr<int>> owned(std::make_unique<int>(42));
  ASSERT_TRUE(owned.ok());
  const std::unique_ptr<int> taken = std::move(owned).value();
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(*taken, 42);
}

// A JSON value converts to a Result implicitly, as handlers return it; so does a Failure.
TEST(Result, CarriesJson) {
  static_assert(std::is_convertible_v<nlohmann::json, Result<nlohmann::json>>);
  static_assert(std::is_convertible_v<Failure, Result<nlohmann::json>>);
  const Result<nlohmann::json> done = nlohmann::json{{"done", "x"}};
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done.value()["done"], "x");
  // A null JSON value is a value, not a failure: "null means fine" is no longer a convention.
  const Result<nlohmann::json> null_value = nlohmann::json();
  EXPECT_TRUE(null_value.ok());
}

// The socket's two answer shapes, byte for byte as acdctl and scripts read them.
TEST(Result, AnswerShapes) {
  EXPECT_EQ(answer(nlohmann::json{{"valid", true}}).dump(),
            R"({"ok":true,"result":{"valid":true}})");
  EXPECT_EQ(answer(Failure{ControlError::TryAgain, "busy; try again"}).dump(),
            R"({"code":"try_again","error":"busy; try again","ok":false})");
  EXPECT_EQ(answer(Failure{ControlError::PermissionDenied, "no"}).dump(),
            R"({"code":"permission_denied","error":"no","ok":false})");
}

}  // namespace
}  // namespace acd::control
