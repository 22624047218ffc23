// Another program that uses a manager started by a conformance test: it knows
// the server's address and key, and the registered type only by name
// ("Tally": add(int64_t) -> int64_t), not by code.
//   manager_peer_main <host> <port> <authkey>
// Prints one line per check; exits 0 when all ran.

#include <cstdint>
#include <cstdio>
#include <string>

#include "mp/mp.h"

int main(int argc, char** argv) {
  mp::init(argc, argv);
  if (argc != 4) return 2;
  mp::TcpAddress address{argv[1], static_cast<uint16_t>(std::stoi(argv[2]))};
  mp::BaseManager m({.address = address, .authkey = std::string(argv[3])});
  m.connect();
  mp::BaseProxy tally = m.create("Tally", int64_t{40});
  std::printf("sum %lld\n", static_cast<long long>(tally.call<int64_t>("add", int64_t{2})));
  try {
    tally.call<int64_t>("add", 2);  // an int, not an int64_t
  } catch (const mp::TypeError&) {
    std::printf("type error\n");
  }
  try {
    tally.call("reset");
  } catch (const mp::AttributeError&) {
    std::printf("attribute error\n");
  }
  try {
    mp::BaseManager wrong({.address = address, .authkey = std::string("wrong")});
    wrong.connect();
  } catch (const mp::AuthenticationError&) {
    std::printf("authentication error\n");
  }
  return 0;
}
