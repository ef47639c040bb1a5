// sopctl: the command-line client of sopstream (commands in src/commands/, one file each).

#include <iostream>
#include <string>
#include <vector>

#include "sop/sopctl/command.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return sop::sopctl::RunCli(args, std::cout, std::cerr);
}
