#pragma once
// A run's attribute as the tests read it from ResultsReader::summary: it must be there (REQUIRE),
// then as text (empty when it is a number) or as a number.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <variant>

#include "core/recorder.hpp"

namespace dposg::test {

inline const AttrValue& run_attr(const RunSummary& s, const std::string& key) {
  const auto it = std::find_if(s.attrs.begin(), s.attrs.end(), [&](const auto& kv) { return kv.first == key; });
  REQUIRE(it != s.attrs.end());
  return it->second;
}

inline std::string attr_text(const RunSummary& s, const std::string& key) {
  const auto* text = std::get_if<std::string>(&run_attr(s, key));
  return text ? *text : std::string();
}

inline double attr_double(const RunSummary& s, const std::string& key) {
  const AttrValue& v = run_attr(s, key);
  if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  return std::get<double>(v);
}

}  // namespace dposg::test
