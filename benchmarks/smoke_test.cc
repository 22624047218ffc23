// Runs the benchmark binary, the CPython script and `bazel run //benchmarks`'s
// script with tiny durations: CI proves that every row still runs and
// reports, that repetitions and progress work, and that a run renders.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

std::string tmp(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

// Runs `args`, its standard output into `out` (if given); the exit status.
int run(std::vector<std::string> args, const std::string& out = "") {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!out.empty()) {
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  }
  pid_t pid;
  int rc = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
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

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// Every "name" in a JSON document, in order.
std::vector<std::string> names(const std::string& json) {
  std::vector<std::string> out;
  std::regex name("\"name\": \"([^\"]+)\"");
  for (std::sregex_iterator it(json.begin(), json.end(), name), end; it != end; ++it) {
    out.push_back((*it)[1]);
  }
  return out;
}

const char* kBinary = "benchmarks/mp_benchmarks";

TEST(BenchmarksSmoke, EveryRowRuns) {
  std::string listed = tmp("rows.txt"), out = tmp("mp.json");
  ASSERT_EQ(run({kBinary, "--mp_list"}, listed), 0);
  std::vector<std::string> rows = lines(slurp(listed));
  ASSERT_GT(rows.size(), 200u);
  ASSERT_EQ(
      run({kBinary, "--benchmark_min_time=0.001", "--benchmark_out=" + out}, tmp("mp.progress")),
      0);
  std::string json = slurp(out);
  EXPECT_EQ(json.find("\"error_occurred\": true"), std::string::npos) << json;
  std::vector<std::string> ran = names(json);
  EXPECT_EQ(std::set<std::string>(ran.begin(), ran.end()),
            std::set<std::string>(rows.begin(), rows.end()));
  EXPECT_EQ(ran.size(), rows.size()) << "one repetition of each row";
  for (const char* row : {"process.start_join/impl:fork/parent_mib:0",
                          "process.start_join/impl:spawn/parent_mib:1024",
                          "process.start_join/impl:forkserver/parent_mib:256",
                          "process.start_join/impl:threads/parent_mib:0",
                          "process.start_join/impl:floor/parent_mib:1024",
                          "process.start_join/impl:floor-spawn/parent_mib:0",
                          "process.start_join/impl:floor-forkserver/parent_mib:0",
                          "process.start_join/impl:floor-threads/parent_mib:0",
                          "pipe.throughput/impl:fork/payload:1048576",
                          "pipe.throughput/impl:floor/payload:64",
                          "pipe.throughput/impl:floor-threads/payload:1048576",
                          "event.pingpong/impl:floor-threads",
                          "rawvalue.atomic_increment/impl:floor/parties:2",
                          "listener.roundtrip/impl:floor-threads/family:tcp",
                          "pool.map/impl:floor-threads/tasks:100000/grain_ns:0/chunksize:0",
                          "pipe.throughput/impl:socket-reference/payload:1048576",
                          "pipe.pingpong/impl:spawn/payload:64",
                          "listener.roundtrip/impl:threads/family:tcp",
                          "listener.roundtrip/impl:floor/family:unix",
                          "queue.throughput/impl:spawn/producers:2/consumers:2/payload:64",
                          "queue.pingpong/impl:floor/payload:8",
                          "joinablequeue.task_done/impl:forkserver",
                          "pool.map/impl:fork/tasks:10000/grain_ns:0/chunksize:1",
                          "pool.map/impl:floor/tasks:1000/grain_ns:100000/processes:2",
                          "pool.imap_unordered/impl:floor/tasks:10000/chunksize:1",
                          "pool.apply.roundtrip/impl:tbb",
                          "pool.create_close_join/impl:threads",
                          "executor.submit.roundtrip/impl:spawn",
                          "executor.submit.roundtrip/impl:floor",
                          "executor.map/impl:forkserver/tasks:100000/chunksize:64",
                          "executor.map/impl:tbb/tasks:100000/chunksize:1",
                          "executor.as_completed/impl:threads/futures:10000",
                          "executor.as_completed/impl:floor/futures:10000",
                          "manager.dict_get/impl:fork",
                          "manager.dict_get/impl:floor",
                          "manager.dict_get/impl:socket-reference",
                          "manager.dict_set/impl:spawn",
                          "manager.list_append/impl:forkserver",
                          "manager.lock_acquire_release/impl:floor",
                          "manager.dict_get/impl:forkserver/clients:2"}) {
    EXPECT_NE(json.find(std::string("\"name\": \"") + row + "\""), std::string::npos) << row;
  }
  // TBB has no equivalent of starting a process.
  EXPECT_EQ(json.find("process.start_join/impl:tbb"), std::string::npos);
}

TEST(BenchmarksSmoke, RepetitionsReuseTheFirstIterationCountAndShowProgress) {
  std::string out = tmp("reps.json"), progress = tmp("reps.progress");
  ASSERT_EQ(run({kBinary, "--benchmark_min_time=0.01", "--benchmark_repetitions=3",
                 "--benchmark_filter=^(lock|rlock)[.]uncontended/impl:(processes|floor)$",
                 "--mp_run_id=smoke-1", "--benchmark_out=" + out},
                progress),
            0);
  std::string json = slurp(out);
  EXPECT_NE(json.find("\"mp_run_id\": \"smoke-1\""), std::string::npos);
  std::vector<std::string> ran = names(json);
  EXPECT_EQ(ran.size(), 12u) << json;  // 4 rows x 3
  for (const char* row : {"lock.uncontended/impl:processes", "rlock.uncontended/impl:floor"}) {
    std::regex entry(std::string("\"name\": \"") + row +
                     "\",[^}]*\"repetition_index\": ([0-9]),[^}]*\"iterations\": ([0-9]+),");
    std::set<std::string> indices, counts;
    for (std::sregex_iterator it(json.begin(), json.end(), entry), end; it != end; ++it) {
      indices.insert((*it)[1]);
      counts.insert((*it)[2]);
    }
    EXPECT_EQ(indices, (std::set<std::string>{"0", "1", "2"})) << row;
    EXPECT_EQ(counts.size(), 1u) << row << ": one iteration count for every repetition";
  }
  std::vector<std::string> shown = lines(slurp(progress));
  ASSERT_EQ(shown.size(), 12u) << slurp(progress);  // not a terminal: a line per run
  EXPECT_TRUE(
      std::regex_search(shown.front(), std::regex(R"(^\[1/12\] \S+ \(1/3\) .* … \S+ elapsed, )")))
      << shown.front();
  EXPECT_EQ(shown.back().rfind("[12/12] ", 0), 0u) << shown.back();
}

TEST(BenchmarksSmoke, FilterEndsWhereItSays) {
  std::string out = tmp("filtered.txt");
  ASSERT_EQ(
      run({kBinary, "--mp_list", "--benchmark_filter=start_join/impl:fork/parent_mib:0$"}, out), 0);
  EXPECT_EQ(lines(slurp(out)),
            std::vector<std::string>{"process.start_join/impl:fork/parent_mib:0"});
  // A leading '-' keeps the rows the expression does not match.
  ASSERT_EQ(run({kBinary, "--mp_list", "--benchmark_filter=-/impl:[^/]*(fork|spawn)"}, out), 0);
  std::vector<std::string> kept = lines(slurp(out));
  EXPECT_GT(kept.size(), 50u);
  for (const std::string& row : kept) {
    EXPECT_EQ(row.find("fork"), std::string::npos) << row;
    EXPECT_EQ(row.find("spawn"), std::string::npos) << row;
  }
}

TEST(BenchmarksSmoke, CpythonRowsRun) {
  if (run({"python3", "-c", "pass"}) != 0) GTEST_SKIP() << "python3 is not installed";
  std::string out = tmp("cpython.json");
  ASSERT_EQ(run({"python3", "benchmarks/cpython_bench.py", "--benchmark_min_time=0.001",
                 "--run_id=smoke-2",
                 // One row or two of each scenario: CPython's rows are slow.
                 "--benchmark_filter=^process[.]start_join/impl:cpython-(fork|threads)/"
                 "parent_mib:(0|256)$|^(lock[.]uncontended|event|value|pipe|listener|queue|"
                 "simplequeue|joinablequeue|pool[.](apply|create)|manager[.]dict_get|"
                 "executor[.]submit)"
                 ".*impl:cpython-(fork|threads)(/|$)",
                 "--out=" + out},
                tmp("cpython.progress")),
            0);
  std::string json = slurp(out);
  EXPECT_EQ(json.find("\"error_occurred\": true"), std::string::npos) << json;
  EXPECT_NE(json.find("\"mp_run_id\": \"smoke-2\""), std::string::npos);
  for (const char* row :
       {"process.start_join/impl:cpython-fork/parent_mib:256",
        "process.start_join/impl:cpython-threads/parent_mib:0",
        "pipe.throughput/impl:cpython-fork/payload:64",
        "listener.roundtrip/impl:cpython-threads/family:unix",
        "queue.throughput/impl:cpython-fork/producers:1/consumers:1/payload:8",
        "value.increment_locked/impl:cpython-fork/parties:2",
        "pool.apply.roundtrip/impl:cpython-threads", "executor.submit.roundtrip/impl:cpython-fork",
        "manager.dict_get/impl:cpython-fork", "manager.dict_get/impl:cpython-fork/clients:2"}) {
    EXPECT_NE(json.find(std::string("\"name\": \"") + row + "\""), std::string::npos) << row;
  }
  std::string progress = slurp(tmp("cpython.progress"));
  EXPECT_TRUE(std::regex_search(progress, std::regex(R"(\[1/\d+\] \S+ \(1/1\) .* elapsed, )")))
      << progress;
}

// `bazel run //benchmarks`'s script, on two cheap scenarios: one run id for
// every part, one rendered report.
TEST(BenchmarksSmoke, RunScriptRendersOneRun) {
  std::string srcdir = std::getenv("TEST_SRCDIR") ? std::getenv("TEST_SRCDIR") : ".";
  ::setenv("RUNFILES_DIR", srcdir.c_str(), 1);
  std::string out = tmp("report");
  ASSERT_EQ(run({"benchmarks/benchmarks", "--benchmark_filter=^(lock|semaphore)[.]uncontended/",
                 "--out=" + out},
                tmp("run.progress")),
            0)
      << slurp(tmp("run.progress"));
  std::string json = slurp(out + "/benchmarks.json");
  std::smatch id;
  ASSERT_TRUE(std::regex_search(json, id, std::regex("\"mp_run_id\": \"([^\"]+-quick)\"")))
      << json.substr(0, 2000);
  std::string md = slurp(out + "/benchmarks.md");
  EXPECT_NE(md.find("run `" + id[1].str() + "`"), std::string::npos) << md;
  EXPECT_NE(md.find("## Anomalies"), std::string::npos);
  EXPECT_NE(md.find("| lock.uncontended | – |"), std::string::npos) << md;
  EXPECT_NE(json.find("\"lock.uncontended/impl:cpython-processes\""), std::string::npos);
  EXPECT_NE(json.find("\"semaphore.uncontended/impl:floor\""), std::string::npos);
}

}  // namespace
