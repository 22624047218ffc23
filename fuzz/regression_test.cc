// The fuzz target as a bounded regression test (gcc, no libFuzzer): every
// seed of fuzz/corpus, then a few thousand inputs made from them by seeded
// mutation, and random ones. A finding aborts the test. Real fuzzing:
// tools/fuzz.

#include <dirent.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::string corpus_dir() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir && workspace) return std::string(srcdir) + "/" + workspace + "/fuzz/corpus";
  return "fuzz/corpus";
}

std::vector<std::string> seeds() {
  std::vector<std::string> out;
  std::string dir = corpus_dir();
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(dir + "/" + e->d_name, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    out.push_back(bytes.str());
  }
  ::closedir(d);
  return out;
}

void run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

// One mutation of the kinds libFuzzer favours: flip, overwrite with an
// interesting length, insert, erase, splice, change the mode byte.
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

TEST(ConnectionFuzzer, SeedCorpus) {
  auto pool = seeds();
  ASSERT_GE(pool.size(), 10u) << "seed corpus missing at " << corpus_dir();
  for (const std::string& s : pool) run(s);
}

TEST(ConnectionFuzzer, MutatedSeeds) {
  auto pool = seeds();
  ASSERT_FALSE(pool.empty());
  std::mt19937 random(20240601);
  for (int i = 0; i < 10000; ++i) run(mutate(pool[random() % pool.size()], pool, random));
}

TEST(ConnectionFuzzer, RandomInputs) {
  std::mt19937 random(7);
  for (int i = 0; i < 2000; ++i) {
    std::string s(random() % 300, '\0');
    for (char& c : s) c = static_cast<char>(random());
    run(s);
  }
}

}  // namespace
