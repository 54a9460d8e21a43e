// How every mixsweep client (the CLI, mixsweep-worker, mixsweep-lab, tests
// and benches) reaches mixsweepd: one channel that sends the bearer token on
// every call, over TLS when a CA is given.
//
//   ConnectionFlags flags;                   // --server, --token-file, --tls-*
//   AddConnectionFlags(app, &flags);
//   ... app.parse(argc, argv) ...
//   absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(flags);
//
// The token comes from --token-file, else $MIXSWEEP_TOKEN, else the file
// named by $MIXSWEEP_TOKEN_FILE. It is never taken as a flag value: argv is
// visible to every user of the machine (ps).
#pragma once

#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/status/statusor.h"

namespace CLI {
class App;
}

namespace mixsweep::client {

struct ConnectionFlags {
  std::string server = "127.0.0.1:50051";
  std::string token_file;
  // TLS: the CA that signed mixsweepd's certificate. Empty: plaintext
  // (mixsweepd then serves this machine only).
  std::string tls_ca_file;
  // Mutual TLS: this client's certificate and key.
  std::string tls_cert_file;
  std::string tls_key_file;
  // The name the server certificate is checked against, when it is not the
  // host in `server` (e.g. connecting by IP address).
  std::string tls_server_name;
};

// Adds --server, --token-file, --tls-ca, --tls-cert, --tls-key and
// --tls-server-name to `app`.
void AddConnectionFlags(CLI::App& app, ConnectionFlags* flags);

// The token secret (see above); "" when none is configured. INVALID_ARGUMENT
// when a named file cannot be read or is empty.
absl::StatusOr<std::string> LoadToken(const std::string& token_file);

// A channel to flags.server carrying `token` (if any) on every call.
// INVALID_ARGUMENT when a TLS file cannot be read.
// `args`: extra channel arguments (e.g. a connection of its own).
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const ConnectionFlags& flags, const std::string& token,
    grpc::ChannelArguments args = grpc::ChannelArguments());

// LoadToken(flags.token_file), then MakeChannel.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ConnectionFlags& flags);

}  // namespace mixsweep::client
