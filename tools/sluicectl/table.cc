// SPDX-License-Identifier: Apache-2.0
#include "tools/sluicectl/table.h"

#include <algorithm>

namespace sluice::sluicectl {

void Table::print(std::ostream& out) const {
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  for (const auto& row : rows_) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(widths[c] - row[c].size() + 2, ' ');
    }
    // Empty cells at the end of a row leave no trailing blanks either.
    line.erase(line.find_last_not_of(' ') + 1);
    out << line << "\n";
  }
}

void Fields::print(std::ostream& out) const {
  size_t width = 0;
  for (const auto& [label, value] : fields_) width = std::max(width, label.size() + 1);
  for (const auto& [label, value] : fields_) {
    out << label << ":" << std::string(width - label.size() - 1 + 2, ' ') << value << "\n";
  }
}

}  // namespace sluice::sluicectl
