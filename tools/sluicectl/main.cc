// SPDX-License-Identifier: Apache-2.0
// sluicectl: the command-line client of sluiced's control API (cli.h).
#include <iostream>

#include "tools/sluicectl/cli.h"

int main(int argc, char** argv) {
  return sluice::sluicectl::run_cli(argc, argv, std::cout, std::cerr);
}
