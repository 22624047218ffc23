// A fuzz target as a bounded regression test (gcc, no libFuzzer): every input
// of its corpus directory (argv[1]) and every built-in seed, then inputs made
// from them by seeded mutation, and random ones. A finding aborts the test.
// Real fuzzing: tools/fuzz TARGET.
//
//   <target>_regression_test CORPUS_DIR [--mutations=N] [--write_seeds=DIR]
//
// --write_seeds writes the target's built-in seeds into DIR (the corpus
// files are made that way) and exits.

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_target.h"

namespace {

std::string g_corpus;
int g_mutations = 5000;

std::string runfile(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir && workspace) return std::string(srcdir) + "/" + workspace + "/" + path;
  return path;
}

std::vector<std::string> corpus() {
  std::vector<std::string> out;
  std::string dir = runfile(g_corpus);
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream in(dir + "/" + e->d_name, std::ios::binary);
      std::stringstream bytes;
      bytes << in.rdbuf();
      out.push_back(bytes.str());
    }
    ::closedir(d);
  }
  return out;
}

void run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

// One mutation of the kinds libFuzzer favours: flip, overwrite with an
// interesting length, insert, erase, splice, change the first (mode) byte.
std::string mutate(std::string s, const std::vector<std::string>& pool, std::mt19937& random) {
  static const char* kInteresting[] = {"\xff\xff\xff\xff", "\x7f\xff\xff\xff", "\x80\x00\x00\x00",
                                       "\x00\x00\x01\x00", "\x00\x00\x00\x00", "\x00\x00\x00\x10"};
  int rounds = 1 + random() % 4;
  for (int r = 0; r < rounds; ++r) {
    size_t at = s.empty() ? 0 : random() % s.size();
    switch (random() % 6) {
      case 0:
        if (!s.empty()) s[at] = static_cast<char>(s[at] ^ (1 << (random() % 8)));
        break;
      case 1: {
        std::string v(kInteresting[random() % 6], 4);
        s.replace(at, std::min<size_t>(4, s.size() - at), v);
        break;
      }
      case 2:
        s.insert(at, std::string(1 + random() % 8, static_cast<char>(random())));
        break;
      case 3:
        if (!s.empty()) s.erase(at, 1 + random() % std::min<size_t>(8, s.size() - at));
        break;
      case 4: {
        const std::string& other = pool[random() % pool.size()];
        if (!other.empty()) s += other.substr(1 + random() % other.size());
        break;
      }
      case 5:
        if (!s.empty()) s[0] = static_cast<char>(random());
        break;
    }
  }
  return s;
}

std::vector<std::string> pool() {
  auto out = corpus();
  for (std::string& s : mp::fuzz::seeds()) out.push_back(std::move(s));
  return out;
}

TEST(FuzzRegression, CorpusAndSeeds) {
  auto inputs = pool();
  ASSERT_GE(inputs.size(), 5u) << "too few seeds; corpus at " << runfile(g_corpus);
  ASSERT_FALSE(corpus().empty()) << "no corpus at " << runfile(g_corpus);
  for (const std::string& s : inputs) run(s);
}

TEST(FuzzRegression, MutatedSeeds) {
  auto inputs = pool();
  ASSERT_FALSE(inputs.empty());
  std::mt19937 random(20240601);
  for (int i = 0; i < g_mutations; ++i)
    run(mutate(inputs[random() % inputs.size()], inputs, random));
}

TEST(FuzzRegression, RandomInputs) {
  std::mt19937 random(7);
  for (int i = 0; i < g_mutations / 5; ++i) {
    std::string s(random() % 300, '\0');
    for (char& c : s) c = static_cast<char>(random());
    run(s);
  }
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--mutations=", 0) == 0) {
      g_mutations = std::atoi(arg.c_str() + 12);
    } else if (arg.rfind("--write_seeds=", 0) == 0) {
      std::string dir = arg.substr(14);
      ::mkdir(dir.c_str(), 0755);
      int n = 0;
      for (const std::string& s : mp::fuzz::seeds()) {
        char name[32];
        std::snprintf(name, sizeof(name), "/seed-%03d", n++);
        std::ofstream(dir + name, std::ios::binary) << s;
      }
      std::printf("%d seeds written to %s\n", n, dir.c_str());
      return 0;
    } else {
      g_corpus = arg;
    }
  }
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // Several times slower under a sanitizer: the corpus and seeds in full,
  // a fifth of the mutations (tools/fuzz is where the long runs happen).
  g_mutations /= 5;
#endif
  return RUN_ALL_TESTS();
}
