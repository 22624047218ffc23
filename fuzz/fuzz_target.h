// fuzz/fuzz_target.h — what every fuzz target of mp provides.
//
// A target is a libFuzzer entry point over bytes that another process or a
// peer wrote, and its seeds: valid inputs of every kind it understands, from
// which mutation starts. fuzz.bzl's mp_fuzz_target() turns each into a
// regression test (its corpus, its seeds and a few thousand seeded
// mutations, on every CI run, under ASan+UBSan too); tools/fuzz TARGET runs
// it under libFuzzer for real.

#ifndef MP_FUZZ_FUZZ_TARGET_H_
#define MP_FUZZ_FUZZ_TARGET_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace mp::fuzz {

// Valid inputs of every kind the target understands.
std::vector<std::string> seeds();

// Aborts with `what`: a finding.
[[noreturn]] void finding(const char* target, const char* what);

}  // namespace mp::fuzz

#endif  // MP_FUZZ_FUZZ_TARGET_H_
