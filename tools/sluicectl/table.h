// SPDX-License-Identifier: Apache-2.0
// Aligned text tables: columns two spaces apart, the last one unpadded and
// trailing empty cells dropped (so lines carry no trailing blanks).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace sluice::sluicectl {

class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add_row(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// "label:  value" lines with the values aligned.
class Fields {
 public:
  void add(std::string label, std::string value) {
    fields_.push_back({std::move(label), std::move(value)});
  }
  void print(std::ostream& out) const;

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

}  // namespace sluice::sluicectl
