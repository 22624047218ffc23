// Runs the benchmark binary and the CPython script with a tiny duration, so
// that CI proves every row still runs and reports.

#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

int run(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  if (::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string tmp(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

TEST(BenchmarksSmoke, EveryRowRuns) {
  std::string out = tmp("mp.json");
  ASSERT_EQ(run({"benchmarks/mp_benchmarks", "--benchmark_min_time=0.001", "--benchmark_out=" + out,
                 "--benchmark_out_format=json"}),
            0);
  std::string json = slurp(out);
  EXPECT_EQ(json.find("\"error_occurred\": true"), std::string::npos) << json;
  for (const char* row : {"process.start_join/impl:fork\"",
                          "process.start_join/impl:spawn\"",
                          "process.start_join/impl:forkserver\"",
                          "process.start_join/impl:threads\"",
                          "process.start_join/impl:tbb\"",
                          "process.start_join/impl:floor\"",
                          "process.start_join/impl:floor-spawn\"",
                          "process.start_join/impl:floor-threads\"",
                          "pipe.throughput/impl:fork/payload:1048576\"",
                          "pipe.throughput/impl:floor/payload:64\"",
                          "pipe.pingpong/impl:spawn/payload:64\"",
                          "listener.roundtrip/impl:threads/family:tcp\"",
                          "listener.roundtrip/impl:floor/family:unix\"",
                          "queue.throughput/impl:spawn/producers:2/consumers:2/payload:64\"",
                          "queue.pingpong/impl:floor/payload:8\"",
                          "joinablequeue.task_done/impl:forkserver\"",
                          "pool.map/impl:fork/tasks:100000/grain_ns:0/chunksize:1\"",
                          "pool.map/impl:floor/tasks:1000/grain_ns:100000/processes:2\"",
                          "pool.apply.roundtrip/impl:spawn\"",
                          "pool.create_close_join/impl:threads\"",
                          "executor.submit.roundtrip/impl:spawn\"",
                          "executor.submit.roundtrip/impl:floor\"",
                          "executor.map/impl:forkserver/tasks:100000/chunksize:64\"",
                          "executor.map/impl:tbb/tasks:100000/chunksize:1\"",
                          "executor.as_completed/impl:threads/futures:10000\"",
                          "executor.as_completed/impl:floor/futures:10000\"",
                          "manager.dict_get/impl:fork\"",
                          "manager.dict_get/impl:floor\"",
                          "manager.dict_set/impl:spawn\"",
                          "manager.list_append/impl:forkserver\"",
                          "manager.lock_acquire_release/impl:floor\"",
                          "manager.dict_get/impl:forkserver/clients:2\""}) {
    EXPECT_NE(json.find(std::string("\"name\": \"") + row), std::string::npos) << row;
  }
  EXPECT_EQ(json.find("/real_time"), std::string::npos) << "row names carry no time suffix";
}

TEST(BenchmarksSmoke, FilterEndsWhereItSays) {
  std::string out = tmp("filtered.json");
  ASSERT_EQ(run({"benchmarks/mp_benchmarks", "--benchmark_min_time=0.001",
                 "--benchmark_filter=start_join/impl:fork$", "--benchmark_out=" + out,
                 "--benchmark_out_format=json"}),
            0);
  std::string json = slurp(out);
  EXPECT_NE(json.find("\"process.start_join/impl:fork\""), std::string::npos);
  EXPECT_EQ(json.find("impl:forkserver"), std::string::npos);
}

TEST(BenchmarksSmoke, CpythonRowsRun) {
  if (run({"python3", "-c", "pass"}) != 0) GTEST_SKIP() << "python3 is not installed";
  std::string out = tmp("cpython.json");
  ASSERT_EQ(run({"python3", "benchmarks/cpython_bench.py", "--benchmark_min_time=0.001",
                 // One row or two of each scenario: CPython's rows are slow.
                 "--benchmark_filter=^(process|lock[.]uncontended|event|pipe|listener|queue|"
                 "simplequeue|joinablequeue|pool[.](apply|create)|manager[.]dict_get|"
                 "executor[.]submit)"
                 ".*impl:cpython-(fork|threads)(/|$)",
                 "--out=" + out}),
            0);
  std::string json = slurp(out);
  EXPECT_NE(json.find("\"process.start_join/impl:cpython-fork\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"process.start_join/impl:cpython-threads\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"pipe.throughput/impl:cpython-fork/payload:64\""), std::string::npos)
      << json;
  EXPECT_NE(json.find("\"listener.roundtrip/impl:cpython-threads/family:unix\""), std::string::npos)
      << json;
  EXPECT_NE(json.find("\"queue.throughput/impl:cpython-fork/producers:1/consumers:1/payload:8\""),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"pool.apply.roundtrip/impl:cpython-threads\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"executor.submit.roundtrip/impl:cpython-fork\""), std::string::npos)
      << json;
  EXPECT_NE(json.find("\"manager.dict_get/impl:cpython-fork\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"manager.dict_get/impl:cpython-fork/clients:2\""), std::string::npos)
      << json;
}

}  // namespace
