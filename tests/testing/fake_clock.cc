#include "tests/testing/fake_clock.h"

#include <cstdlib>
#include <filesystem>
#include <string>

namespace osprey::testing {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "osprey-test-XXXXXX").string();
  char* made = ::mkdtemp(tmpl.data());
  path_ = made != nullptr ? std::string(made) : std::string();
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

}  // namespace osprey::testing
