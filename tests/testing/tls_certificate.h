// A self-signed TLS certificate made at run time (OpenSSL), for tests of TLS servers: no
// certificate is checked in, none expires. Thread-compatible.
#pragma once

#include <string>

namespace osprey::testing {

struct TlsCertificate {
  std::string cert_file;  // PEM certificate, CN=localhost, valid for an hour
  std::string key_file;   // PEM P-256 private key
};

// Writes `<dir>/<name>.crt` and `<dir>/<name>.key`. Fails the calling test if that fails.
TlsCertificate MakeSelfSignedCertificate(const std::string& dir, const std::string& name);

}  // namespace osprey::testing
