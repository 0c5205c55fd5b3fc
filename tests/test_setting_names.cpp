// Core's messages name settings by key; the command line's table spells each one. These checks
// read the sources and `dposg run --help` rather than the table's own output.
#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <utility>
#include <sstream>
#include <string>

#include "app/option_names.hpp"
#include "core/compressor.hpp"
#include "core/error.hpp"
#include "core/mixer.hpp"

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string run_help() {
  std::string out;
  FILE* pipe = ::popen((std::string(DPOSG_CLI) + " run --help 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), pipe) != nullptr) out += buf.data();
  ::pclose(pipe);
  return out;
}

// Restores keys-as-themselves after a test that installs the command line's spelling.
struct SpellingGuard {
  ~SpellingGuard() { dposg::install_setting_spelling(nullptr); }
};

}  // namespace

TEST_CASE("every key core uses is declared, and no core string literal spells a command-line option") {
  const std::regex used(R"re(setting\("([a-z_.0-9]+)"\))re");
  const std::regex spelled(R"re("[^"\n]*--[a-z][a-z-]*[^"\n]*")re");
  const std::set<std::string_view> declared(dposg::setting_keys().begin(), dposg::setting_keys().end());
  std::set<std::string> seen;
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(DPOSG_SOURCE_DIR) / "core")) {
    const auto ext = entry.path().extension();
    if (ext != ".cpp" && ext != ".hpp") continue;
    ++files;
    std::istringstream lines(slurp(entry.path()));
    std::string line;
    int n = 0;
    while (std::getline(lines, line)) {
      ++n;
      for (std::sregex_iterator it(line.begin(), line.end(), used), end; it != end; ++it) {
        INFO(entry.path().filename().string() << ":" << n);
        CHECK(declared.count((*it)[1].str()) == 1);
        seen.insert((*it)[1].str());
      }
      const auto code = line.substr(0, line.find("//"));
      // An internal logic_error may mention what the command line checked; user-facing text may not.
      if (code.find("logic_error") != std::string::npos) continue;
      INFO(entry.path().filename().string() << ":" << n << ": " << line);
      CHECK_FALSE(std::regex_search(code, spelled));
    }
  }
  CHECK(files > 20);
  // A declared key nothing uses is a stale entry in both tables.
  for (const auto& key : declared) {
    INFO(key);
    CHECK(seen.count(std::string(key)) == 1);
  }
}

TEST_CASE("the command line spells every key as one of dposg run's options, each key differently") {
  const std::string help = run_help();
  std::set<std::string> options;
  for (const auto key : dposg::setting_keys()) {
    const std::string option = dposg::app::option_for(key);
    INFO(key);
    REQUIRE_FALSE(option.empty());
    CHECK(options.insert(option).second);
    CHECK(help.find("  " + option + " ") != std::string::npos);
  }
  CHECK(dposg::app::option_for("no.such_key").empty());
}

TEST_CASE("an InputError reads in keys without a front end and in options with the command line's") {
  SpellingGuard guard;
  const auto refusal = [] {
    try {
      dposg::MixingSchedule("single", 3, 0);
    } catch (const dposg::InputError& e) {
      return std::pair<std::string, std::string>(e.what(), e.setting_key());
    }
    FAIL("W = I with 3 workers was accepted");
    return std::pair<std::string, std::string>();
  };
  dposg::install_setting_spelling(nullptr);
  CHECK(refusal() == std::pair<std::string, std::string>("mixer.topology single: needs mixer.workers 1 (W = I), got 3",
                                                         "mixer.topology"));
  dposg::app::install_option_names();
  CHECK(refusal() ==
        std::pair<std::string, std::string>("--topology single: needs --workers 1 (W = I), got 3", "mixer.topology"));
  // Braces that are not a key (a user's path) pass through untouched.
  CHECK(dposg::render_settings("'/tmp/{a.b}/{x' {mixer.workers}") == "'/tmp/{a.b}/{x' --workers");
  CHECK(dposg::render_settings("{unclosed") == "{unclosed");
  CHECK(dposg::InputError("plain text").setting_key().empty());
  CHECK_THROWS_AS(dposg::setting("no.such_key"), std::logic_error);
}
