// What one sign-in check costs at each argon2id cost level (CredentialStore::verify: the hash
// plus the store's bookkeeping), one thread: verifications per second per core. The table in
// bench/RESULTS.md "Sign-in" and docs/operations.md "Sign-in cost" comes from this. Beside it, what
// a session-token check costs (SessionTokens::check: one keyed BLAKE2b, on the IO thread).
//
//   build/signin_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>

#include "acd/control/credential_store.hpp"
#include "acd/dataplane/session_token.hpp"

namespace {

using namespace acd;

// Args: opslimit, memlimit in KiB.
void BM_VerifyAtCost(benchmark::State& state) {
  const control::HashCost cost{static_cast<std::uint64_t>(state.range(0)),
                               static_cast<std::size_t>(state.range(1)) << 10};
  const std::string path = "/tmp/acd-signin-bench-" + std::to_string(state.range(0)) + "-" +
                           std::to_string(state.range(1));
  std::remove(path.c_str());
  if (!control::CredentialStore::set_password(path, 1001, "correct horse battery", cost).ok()) {
    state.SkipWithError("cannot write the credential file");
    return;
  }
  control::CredentialStore store;
  if (!store.load(path).ok()) {
    state.SkipWithError("cannot read the credential file");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(store.verify(1001, "correct horse battery"));
  }
  state.SetItemsProcessed(state.iterations());  // items/s = verifications per second per core
  state.counters["memlimit_MiB"] = static_cast<double>(state.range(1)) / 1024.0;
  std::remove(path.c_str());
}
BENCHMARK(BM_VerifyAtCost)
    ->ArgNames({"ops", "mem_kib"})
    ->Args({1, 8})        // minimal (tests only)
    ->Args({1, 2048})     // the storm test's cost
    ->Args({1, 8192})
    ->Args({2, 19456})    // owasp
    ->Args({3, 12288})    // OWASP's alternative at 12 MiB
    ->Args({2, 65536})    // interactive (libsodium)
    ->Unit(benchmark::kMillisecond)
    ->MinTime(1.0)
    ->UseRealTime();

// One token sign-in's check, as the IO thread runs it (valid token: the full path).
void BM_TokenCheck(benchmark::State& state) {
  dataplane::TokenKey key;
  key.fill(7);
  const dataplane::SessionTokens tokens(key, "site-1", 4 * 3600);
  const std::int64_t now = 1'800'000'000;
  const dataplane::wire::TokenProof proof = tokens.mint(100001, 3, now);
  for (auto _ : state) {
    benchmark::DoNotOptimize(tokens.check(100001, proof, 3, now));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TokenCheck)->Unit(benchmark::kNanosecond)->MinTime(1.0);

}  // namespace

BENCHMARK_MAIN();
