#include "tests/testing/tls_certificate.h"

#include <cstdio>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace osprey::testing {

namespace {

bool WritePem(const std::string& path, X509* cert, EVP_PKEY* key) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return false;
  const bool ok = cert != nullptr
                      ? PEM_write_X509(file, cert) == 1
                      : PEM_write_PrivateKey(file, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  return std::fclose(file) == 0 && ok;
}

}  // namespace

TlsCertificate MakeSelfSignedCertificate(const std::string& dir, const std::string& name) {
  TlsCertificate out{dir + "/" + name + ".crt", dir + "/" + name + ".key"};
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  bool ok = key != nullptr && cert != nullptr;
  ok = ok && X509_set_version(cert, 2) == 1;
  ok = ok && ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) == 1;
  ok = ok && X509_gmtime_adj(X509_getm_notBefore(cert), -60) != nullptr;
  ok = ok && X509_gmtime_adj(X509_getm_notAfter(cert), 3600) != nullptr;
  ok = ok && X509_set_pubkey(cert, key) == 1;
  X509_NAME* subject = ok ? X509_get_subject_name(cert) : nullptr;
  ok = ok && X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                        reinterpret_cast<const unsigned char*>("localhost"), -1, -1,
                                        0) == 1;
  ok = ok && X509_set_issuer_name(cert, subject) == 1;
  ok = ok && X509_sign(cert, key, EVP_sha256()) > 0;
  ok = ok && WritePem(out.cert_file, cert, nullptr) && WritePem(out.key_file, nullptr, key);
  X509_free(cert);
  EVP_PKEY_free(key);
  EXPECT_TRUE(ok) << "could not make a test certificate in " << dir;
  return out;
}

}  // namespace osprey::testing
