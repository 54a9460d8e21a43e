#include "services/channel/channel.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/client_interceptor.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace mixsweep::client {
namespace {

// Adds `authorization: Bearer ...` to the initial metadata of every call.
class BearerToken final : public grpc::experimental::Interceptor {
 public:
  explicit BearerToken(const std::string& header) : header_(header) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace("authorization", header_);
    }
    methods->Proceed();
  }

 private:
  const std::string& header_;  // owned by the factory, which the channel keeps
};

class BearerTokenFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit BearerTokenFactory(std::string token) : header_("Bearer " + std::move(token)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new BearerToken(header_);
  }

 private:
  const std::string header_;
};

absl::StatusOr<std::string> ReadWhole(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(what, ": cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

void AddConnectionFlags(CLI::App& app, ConnectionFlags* flags) {
  app.add_option("--server", flags->server, "mixsweepd address, host:port")
      ->envname("MIXSWEEP_SERVER")
      ->capture_default_str();
  app.add_option("--token-file", flags->token_file,
                 "file holding the bearer token (else $MIXSWEEP_TOKEN or $MIXSWEEP_TOKEN_FILE)");
  app.add_option("--tls-ca", flags->tls_ca_file,
                 "PEM CA of mixsweepd's certificate: connect with TLS")
      ->envname("MIXSWEEP_TLS_CA");
  app.add_option("--tls-cert", flags->tls_cert_file, "PEM client certificate (mutual TLS)")
      ->envname("MIXSWEEP_TLS_CERT");
  app.add_option("--tls-key", flags->tls_key_file, "PEM key of --tls-cert")
      ->envname("MIXSWEEP_TLS_KEY");
  app.add_option("--tls-server-name", flags->tls_server_name,
                 "name to check the server certificate against (default: the host of --server)");
}

absl::StatusOr<std::string> LoadToken(const std::string& token_file) {
  std::string path = token_file;
  if (path.empty()) {
    if (const char* token = std::getenv("MIXSWEEP_TOKEN"); token != nullptr && *token != '\0') {
      return std::string(absl::StripAsciiWhitespace(token));
    }
    if (const char* file = std::getenv("MIXSWEEP_TOKEN_FILE"); file != nullptr && *file != '\0') {
      path = file;
    }
  }
  if (path.empty()) return std::string();
  auto text = ReadWhole(path, "token file");
  if (!text.ok()) return text.status();
  std::string token(absl::StripAsciiWhitespace(*text));
  if (token.empty()) return absl::InvalidArgumentError(absl::StrCat("token file: ", path, " is empty"));
  return token;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ConnectionFlags& flags,
                                                           const std::string& token,
                                                           grpc::ChannelArguments args) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // Reconnect soon after mixsweepd comes back: gRPC's default reconnect
  // backoff starts at 1 s and grows by 1.6x to 120 s, so a worker waited
  // about 1 s after a restart that took 0.1 s, and could wait two minutes
  // more after a long outage (crash_bench). Here: 200 ms, growing to 2 s,
  // unless the caller chose.
  const auto has = [&args](const char* key) {
    const grpc_channel_args c = args.c_channel_args();
    for (size_t i = 0; i < c.num_args; ++i) {
      if (std::string_view(c.args[i].key) == key) return true;
    }
    return false;
  };
  if (!has(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS)) {
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  }
  if (!has(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS)) args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  if (flags.tls_ca_file.empty()) {
    if (!flags.tls_cert_file.empty()) {
      return absl::InvalidArgumentError("--tls-cert: needs --tls-ca (mutual TLS is TLS)");
    }
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions options;
    auto ca = ReadWhole(flags.tls_ca_file, "--tls-ca");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
    if (flags.tls_cert_file.empty() != flags.tls_key_file.empty()) {
      return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
    }
    if (!flags.tls_cert_file.empty()) {
      auto cert = ReadWhole(flags.tls_cert_file, "--tls-cert");
      if (!cert.ok()) return cert.status();
      auto key = ReadWhole(flags.tls_key_file, "--tls-key");
      if (!key.ok()) return key.status();
      options.pem_cert_chain = *cert;
      options.pem_private_key = *key;
    }
    credentials = grpc::SslCredentials(options);
    if (!flags.tls_server_name.empty()) {
      args.SetSslTargetNameOverride(flags.tls_server_name);
    }
  }
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
  if (!token.empty()) interceptors.push_back(std::make_unique<BearerTokenFactory>(token));
  return grpc::experimental::CreateCustomChannelWithInterceptors(flags.server, credentials, args,
                                                                 std::move(interceptors));
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ConnectionFlags& flags) {
  auto token = LoadToken(flags.token_file);
  if (!token.ok()) return token.status();
  return MakeChannel(flags, *token);
}

}  // namespace mixsweep::client
