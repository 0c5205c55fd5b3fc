#pragma once
// The one error type for bad user input: the CLI turns it into one line on stderr and exit code 2.
//
// Core names the setting a message is about by its key, `setting("mixer.workers")` ("{mixer.workers}"
// in the text), never by a front end's spelling of it: the composition root installs how its front
// end spells each key (app/option_names.hpp renders "--workers") and every InputError is rendered
// when it is made, so what() is final wherever it travels (wrapped in a sweep's message, sent to the
// other MPI ranks, stored as a run's failure message). Without an installed spelling a key reads as
// itself ("mixer.workers: must be >= 1, got 0").
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace dposg {

// Every key core's messages use; a front end's spelling table must name each of them (tested).
std::span<const std::string_view> setting_keys();

// "{key}" for a message; `key` must be one of setting_keys() (a logic_error otherwise).
std::string setting(std::string_view key);

// How a front end spells a key; returns an empty string for a key it has no spelling for.
using SettingSpelling = std::string (*)(std::string_view key);

// Installed once at start-up, before any thread runs (not synchronised); nullptr restores keys.
void install_setting_spelling(SettingSpelling spelling);

// `text` with each "{key}" of a known key replaced by its spelling (or the bare key); anything else,
// a user's path with braces included, is left as it is.
std::string render_settings(std::string_view text);

class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& what) : std::runtime_error(render_settings(what)), setting_(leading_key(what)) {}

  // The key the message starts with ("" when it starts with none): what a library caller tests
  // to tell which setting was refused without parsing the text.
  const std::string& setting_key() const { return setting_; }

 private:
  static std::string leading_key(std::string_view text);
  std::string setting_;
};

// An error that has been said on stderr already (by this process or, under MPI, by another rank):
// the command ends with exit_code() and prints nothing more.
class ReportedError : public std::runtime_error {
 public:
  ReportedError(const std::string& what, int exit_code) : std::runtime_error(what), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// A double as an error message quotes it: 17 significant digits, so the user sees the value read.
inline std::string exact_text(double x) {
  std::ostringstream s;
  s.precision(17);
  s << x;
  return s.str();
}

}  // namespace dposg
