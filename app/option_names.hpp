#pragma once
// How the command line spells each setting core names by key (core/error.hpp): core's messages
// say "{mixer.workers}", the one front end we ship says "--workers". Kept here, beside the
// composition root that binds options to parts, so a renamed option is one edit.
#include <string>
#include <string_view>

namespace dposg::app {

// "--workers" for "mixer.workers"; "" for a key this table lacks (a test keeps it complete).
std::string option_for(std::string_view key);

// Makes every InputError read in the command line's options from here on; called once by the
// executable before it parses anything.
void install_option_names();

}  // namespace dposg::app
