// The model registry on disk, as `osprey train` and `osprey evaluate` use it
// (models/serving/REGISTRY.md): publishing a new version atomically (temp directory, fsync,
// rename(2) to the next integer version) and reading one version's files into a ModelArtifact.
// Thread-safe: no shared state; concurrent publishers of one name get distinct versions
// (a lost rename race retries with the next number).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "config/base/status.h"
#include "models/serving/model.h"

namespace osprey::daemon::trainer {

// Writes `files` plus metadata.json (from make_metadata(version)) into
// <registry>/<name>/<version>/, creating directories as needed, and returns the version.
Result<std::string> PublishModel(
    const std::string& registry, const std::string& name,
    const std::map<std::string, std::string>& files,
    const std::function<std::string(const std::string&)>& make_metadata);

// Reads <registry>/<name>/<version>/ (the highest version holding a metadata.json when
// `version` is empty) into an artifact; `kind` comes from the metadata.
Result<models::ModelArtifact> ReadArtifact(const std::string& registry, const std::string& name,
                                           const std::string& version = "");

// Reads a whole file.
Result<std::string> ReadFileBytes(const std::string& path);

// Lowercase hex SHA-256.
std::string Sha256Hex(std::string_view bytes);

}  // namespace osprey::daemon::trainer
