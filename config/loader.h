// The strict YAML loader: parses a config file, interpolates ${VAR} references in scalar values,
// validates every field, and produces one immutable DaemonConfig. The schema and the ranges are
// those documented in config/options.h; config/examples/ holds annotated, valid files.
// Thread-safe: the functions keep no state; an Environment must be safe for concurrent Get.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "config/base/status.h"
#include "config/options.h"

namespace osprey::config {

// Where ${VAR} interpolation looks variables up.
class Environment {
 public:
  virtual ~Environment() = default;
  // The variable's value; nullopt when it is unset (set-but-empty returns "").
  virtual std::optional<std::string> Get(const std::string& name) const = 0;
};

// The process environment (getenv). Used when a load function is given no Environment.
class ProcessEnvironment final : public Environment {
 public:
  std::optional<std::string> Get(const std::string& name) const override;
};

// A fixed set of variables, for tests and for callers that build the environment themselves.
class MapEnvironment final : public Environment {
 public:
  MapEnvironment() = default;
  explicit MapEnvironment(std::map<std::string, std::string> vars) : vars_(std::move(vars)) {}
  void Set(const std::string& name, std::string value) { vars_[name] = std::move(value); }
  std::optional<std::string> Get(const std::string& name) const override;

 private:
  std::map<std::string, std::string> vars_;
};

// Reads, parses, interpolates and validates `path`. `env` may be null (= ProcessEnvironment) and
// is only used during the call.
//
// Errors: Status::InvalidArgument whose message lists ALL problems found, sorted by position,
// one per line, each "FILE:LINE:COLUMN: key.path: message" (1-based; the path is omitted for
// problems with the document as a whole). YAML syntax errors read "FILE:LINE:COLUMN: yaml: ...".
// A file that cannot be read gives Status::IOError "FILE: cannot read: <reason>".
// Interpolation, in scalar values only (never keys), before type conversion:
//   ${VAR}              value of VAR; an error when VAR is unset
//   ${VAR:-default}     `default` when VAR is unset or empty
//   ${VAR:?message}     an error "...: ${VAR}: message" when VAR is unset or empty
//   $$                  a literal '$'
// On success, DaemonConfig::file is `path` and DaemonConfig::digest the lowercase hex SHA-256
// of the file's bytes. No exception escapes.
Result<DaemonConfig> LoadConfigFile(const std::string& path, const Environment* env = nullptr);

// As LoadConfigFile, for text already in memory; `file_name` is used in messages and as
// DaemonConfig::file, and the digest is that of `yaml`.
Result<DaemonConfig> LoadConfigString(std::string_view yaml, const std::string& file_name,
                                      const Environment* env = nullptr);

}  // namespace osprey::config
