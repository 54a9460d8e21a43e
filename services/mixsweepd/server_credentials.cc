#include "services/mixsweepd/server_credentials.h"

#include <fstream>
#include <sstream>

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/server_credentials.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace mixsweep::daemon {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* flag) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (!absl::StrContains(text.str(), "-----BEGIN ")) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " is not a PEM file"));
  }
  return text.str();
}

}  // namespace

bool IsLoopbackListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  const std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  return host == "localhost" || host == "[::1]" || absl::StartsWith(host, "127.");
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const Config& config) {
  if (!config.tls.enabled()) {
    if (!IsLoopbackListen(config.listen)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--listen ", config.listen,
          ": without TLS mixsweepd accepts connections from this machine only (bearer tokens "
          "must not cross a network in clear); listen on 127.0.0.1, or give --tls-cert and "
          "--tls-key (docs/SECURITY.md)"));
    }
    return grpc::experimental::LocalServerCredentials(LOCAL_TCP);
  }
  auto cert = ReadPem(config.tls.cert_file, "--tls-cert");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(config.tls.key_file, "--tls-key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options(
      config.tls.client_ca_file.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : (config.tls.require_client_cert
                 ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                 : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY));
  if (!config.tls.client_ca_file.empty()) {
    auto ca = ReadPem(config.tls.client_ca_file, "--tls-client-ca");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
  }
  options.pem_key_cert_pairs.push_back({.private_key = *key, .cert_chain = *cert});
  return grpc::SslServerCredentials(options);
}

}  // namespace mixsweep::daemon
