#include "daemon/trainer/registry_files.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <system_error>

#include <fcntl.h>
#include <openssl/evp.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>

namespace osprey::daemon::trainer {

namespace fs = std::filesystem;

namespace {

bool IsVersionName(const std::string& s) {
  if (s.empty() || s.size() > 9 || s[0] == '0') return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Highest integer version directory under `dir` (0 when none); with require_metadata, only
// directories holding a metadata.json count.
int HighestVersion(const fs::path& dir, bool require_metadata) {
  int best = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string n = entry.path().filename().string();
    if (!entry.is_directory(ec) || !IsVersionName(n)) continue;
    if (require_metadata && !fs::exists(entry.path() / "metadata.json", ec)) continue;
    best = std::max(best, std::stoi(n));
  }
  return best;
}

Status WriteFileSynced(const fs::path& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError(path.string() + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return Status::IOError(path.string() + ": write: " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::IOError(path.string() + ": fsync: " + std::strerror(err));
  }
  ::close(fd);
  return Status::Ok();
}

void SyncDir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)::fsync(fd);  // best effort: the rename already happened
    ::close(fd);
  }
}

}  // namespace

std::string Sha256Hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md, &size, EVP_sha256(), nullptr) != 1) return "";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int idx = 0; idx < size; ++idx) {
    out += kHex[md[idx] >> 4];
    out += kHex[md[idx] & 0xF];
  }
  return out;
}

Result<std::string> ReadFileBytes(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IOError(path + ": cannot read: " + std::strerror(errno));
  std::string out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return Status::IOError(path + ": read: " + std::strerror(err));
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Result<std::string> PublishModel(
    const std::string& registry, const std::string& name,
    const std::map<std::string, std::string>& files,
    const std::function<std::string(const std::string&)>& make_metadata) {
  const fs::path dir = fs::path(registry) / name;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError(dir.string() + ": cannot create: " + ec.message());
  std::random_device rd;
  for (int attempt = 0; attempt < 16; ++attempt) {
    const std::string version = std::to_string(HighestVersion(dir, false) + 1);
    const fs::path tmp = dir / (".tmp-" + version + "-" + std::to_string(rd()));
    fs::create_directory(tmp, ec);
    if (ec) return Status::IOError(tmp.string() + ": cannot create: " + ec.message());
    Status st;
    for (const auto& [file, bytes] : files) {
      st = WriteFileSynced(tmp / file, bytes);
      if (!st.ok()) break;
    }
    if (st.ok()) st = WriteFileSynced(tmp / "metadata.json", make_metadata(version));
    if (!st.ok()) {
      fs::remove_all(tmp, ec);
      return st;
    }
    SyncDir(tmp);
    if (::rename(tmp.c_str(), (dir / version).c_str()) == 0) {
      SyncDir(dir);
      return version;
    }
    const int err = errno;
    fs::remove_all(tmp, ec);
    if (err != EEXIST && err != ENOTEMPTY) {
      return Status::IOError((dir / version).string() + ": rename: " + std::strerror(err));
    }
    // Another publisher took this version: try the next one.
  }
  return Status::Unavailable(dir.string() + ": could not claim a version after 16 attempts");
}

Result<models::ModelArtifact> ReadArtifact(const std::string& registry, const std::string& name,
                                           const std::string& version) {
  const fs::path dir = fs::path(registry) / name;
  std::string v = version;
  if (v.empty()) {
    const int highest = HighestVersion(dir, true);
    if (highest == 0) return Status::NotFound(dir.string() + ": no published version");
    v = std::to_string(highest);
  }
  const fs::path vdir = dir / v;
  models::ModelArtifact artifact;
  artifact.name = name;
  artifact.version = v;
  OSPREY_ASSIGN_OR_RETURN(artifact.metadata_json, ReadFileBytes((vdir / "metadata.json").string()));
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(vdir, ec)) {
    if (!entry.is_regular_file(ec) || entry.path().filename() == "metadata.json") continue;
    OSPREY_ASSIGN_OR_RETURN(artifact.files[entry.path().filename().string()],
                            ReadFileBytes(entry.path().string()));
  }
  if (ec) return Status::IOError(vdir.string() + ": " + ec.message());
  simdjson::dom::parser parser;
  simdjson::padded_string padded(artifact.metadata_json);
  simdjson::dom::element doc;
  std::string_view kind;
  if (parser.parse(padded).get(doc) || doc["kind"].get(kind)) {
    return Status::Corruption((vdir / "metadata.json").string() + ": no \"kind\"");
  }
  artifact.kind = std::string(kind);
  return artifact;
}

}  // namespace osprey::daemon::trainer
