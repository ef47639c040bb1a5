// sop-demo: the Monday S&OP pack of a generated S-scale manufacturer.
//
//   sop-demo [--seed N] [--dir DIR] [--stay]     live: the services as processes (default)
//   sop-demo --offline [--seed N] [--threads N]  the libraries in one process

#include <string_view>
#include <vector>

#include "demo.hpp"

int main(int argc, char** argv) {
  std::vector<char*> rest = {argv[0]};
  bool offline = false;
  for (int index = 1; index < argc; ++index) {
    if (std::string_view(argv[index]) == "--offline") {
      offline = true;
    } else {
      rest.push_back(argv[index]);
    }
  }
  rest.push_back(nullptr);
  const int count = static_cast<int>(rest.size()) - 1;
  return offline ? sop::demo::RunOffline(count, rest.data())
                 : sop::demo::RunLive(count, rest.data());
}
