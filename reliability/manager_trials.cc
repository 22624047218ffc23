// Manager trials: three client processes call a manager's dict and list in a
// loop; one is killed mid-call (in its request, in the server's reply, or in
// between). Afterwards the survivors have finished their rounds, the server
// still answers this process, and the dict and list hold exactly what the
// completed calls put there (plus, at most, the killed client's last call).

#include <string>

#include "trials.h"

namespace mp::reliability {
namespace {

using namespace std::chrono_literals;

constexpr int kClients = 3;
constexpr size_t kWrong = 0, kRounds = 1, kWords = kRounds + kClients;

using Dict = mp::DictProxy<std::string, int64_t>;
using List = mp::ListProxy<int64_t>;

std::string key_of(int client, int round) {
  return std::to_string(client) + ":" + std::to_string(round);
}

void client(Dict d, List l, Board b, int me, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    d.set(key_of(me, i), i);
    if (d.get(key_of(me, i)) != i) b.add(kWrong, 1);
    l.append(int64_t{me} * 1'000'000 + i);
    b.store(kRounds + me, static_cast<uint64_t>(i) + 1);
  }
}

Outcome manager_trial(mp::Context& ctx, std::mt19937_64& random) {
  Outcome out;
  const int rounds = 20 + static_cast<int>(random() % 80);
  mp::Manager manager(ctx);
  Dict d = manager.dict<std::string, int64_t>();
  List l = manager.list<int64_t>();
  Board b(kWords);
  std::vector<mp::Process> clients;
  for (int i = 0; i < kClients; ++i) clients.emplace_back(ctx, &client, d, l, b, i, rounds);
  for (auto& c : clients) c.start();
  const int victim = static_cast<int>(random() % kClients);
  const uint64_t at = random() % static_cast<uint64_t>(rounds);
  kill_when(
      clients[victim], [&] { return b.load(kRounds + victim) >= at; }, random, 100, out);
  join_survivors(clients, 0, kClients, victim, 60s, "surviving client", out);
  if (b.load(kWrong)) {
    ++out.corrupted;
    out.fail("a client read back another value than it set");
  }
  // The server serves this process, and holds what the calls made.
  try {
    const auto items = d.copy();
    const auto list = l.copy();
    uint64_t completed = 0;
    for (int i = 0; i < kClients; ++i) {
      const int done = static_cast<int>(b.load(kRounds + i));
      completed += static_cast<uint64_t>(done);
      for (int r = 0; r < done; ++r) {
        auto it = items.find(key_of(i, r));
        if (it == items.end() || it->second != r) {
          ++out.lost;
          out.fail("a completed set() is missing");
        }
      }
    }
    if (items.size() < completed || items.size() > completed + 1) {
      ++out.corrupted;
      out.fail("the dict holds " + std::to_string(items.size()) + " keys after " +
               std::to_string(completed) + " completed rounds");
    }
    if (list.size() < completed || list.size() > completed + 1) {
      ++out.corrupted;
      out.fail("the list holds " + std::to_string(list.size()) + " items after " +
               std::to_string(completed) + " completed rounds");
    }
    d.set("after", 1);
    if (d.get("after") != 1) out.fail("the server answers wrongly after the kill");
  } catch (const std::exception& e) {
    out.hung = true;
    out.fail(std::string("the server stopped serving: ") + e.what());
  }
  return out;
}

}  // namespace

std::vector<Scenario> manager_scenarios() { return {{"manager/client", &manager_trial}}; }

}  // namespace mp::reliability
