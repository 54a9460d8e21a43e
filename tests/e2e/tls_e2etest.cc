// End to end with TLS: a real mixsweepd serving with certificates from
// scripts/make-test-ca.sh, the real CLI and a real mixsweep-worker passing
// the --tls-* flags, mutual TLS for workers, a plaintext mixsweepd refusing a
// non-loopback address, and the plaintext loopback mode working too.
#include <sys/stat.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "grpc/health/v1/health.grpc.pb.h"
#include "services/channel/channel.h"
#include "tests/support/daemon.h"
#include "tests/support/pg_harness.h"
#include "tests/support/process.h"
#include "tests/support/spec_files.h"
#include "tests/support/worker_process.h"

#ifndef MIXSWEEP_SOURCE_DIR
#error "MIXSWEEP_SOURCE_DIR must name the source tree"
#endif

namespace mixsweep::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using HealthCheckResponse = grpc::health::v1::HealthCheckResponse;

const std::string kMakeTestCa = std::string(MIXSWEEP_SOURCE_DIR) + "/scripts/make-test-ca.sh";

// Runs scripts/make-test-ca.sh into `dir`.
CommandResult MakeTestCa(const std::string& dir) {
  return RunCommand({"/bin/bash", kMakeTestCa, dir}, "", 60s);
}

std::vector<std::string> Cat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A gRPC health check (open to callers without a token) on `channel`.
grpc::Status CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                         HealthCheckResponse* response) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  return stub->Check(&context, grpc::health::v1::HealthCheckRequest{}, response);
}

// An in-process channel without a token to `address`: TLS trusting `ca`, or
// plaintext when `ca` is "". (Daemon::Channel() has no TLS.)
std::shared_ptr<grpc::Channel> ChannelTo(const std::string& address, const std::string& ca) {
  client::ConnectionFlags flags{.server = address, .tls_ca_file = ca};
  auto channel = client::MakeChannel(flags, /*token=*/"");
  EXPECT_TRUE(channel.ok()) << channel.status();
  return channel.ok() ? *channel : nullptr;
}

// Every test gets a fresh test CA from the script.
class TlsE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_dir_ = MakeTempDir("test-ca") + "/ca";
    CommandResult r = MakeTestCa(ca_dir_);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }

  std::string Pem(const std::string& name) const { return ca_dir_ + "/" + name; }

  // mixsweepd's flags for TLS with the script's server certificate.
  std::vector<std::string> ServerTls() const {
    return {"--tls-cert", Pem("server.pem"), "--tls-key", Pem("server.key")};
  }
  // Mutual TLS: client certificates from the test CA required.
  std::vector<std::string> ServerMutualTls() const {
    return Cat(ServerTls(), {"--tls-client-ca", Pem("ca.pem"), "--tls-require-client-cert"});
  }
  // A client's flags: trust the test CA; for mutual TLS also present the
  // client certificate it signed.
  std::vector<std::string> ClientTls() const { return {"--tls-ca", Pem("ca.pem")}; }
  std::vector<std::string> ClientMutualTls() const {
    return Cat(ClientTls(), {"--tls-cert", Pem("client.pem"), "--tls-key", Pem("client.key")});
  }

  std::string ca_dir_;
};

TEST_F(TlsE2E, TestCaScriptMakesEveryFileWithPrivateKeysAndRefusesToOverwrite) {
  for (const char* name : {"ca.pem", "ca.key", "server.pem", "server.key", "client.pem",
                           "client.key", "other-ca.pem", "other-client.pem",
                           "other-client.key"}) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(fs::is_regular_file(Pem(name)));
    const std::string text = ReadFile(Pem(name));
    EXPECT_TRUE(Contains(text, "-----BEGIN ")) << text;
    if (std::string(name).ends_with(".key")) {
      EXPECT_TRUE(Contains(text, "PRIVATE KEY-----")) << "not a key";
      struct stat st {};
      ASSERT_EQ(::stat(Pem(name).c_str(), &st), 0);
      EXPECT_EQ(st.st_mode & 0777, 0600u) << "a key readable by others";
    } else {
      EXPECT_TRUE(Contains(text, "-----BEGIN CERTIFICATE-----")) << text;
    }
  }
  // A second run into the same directory is refused and changes nothing.
  const std::string ca_before = ReadFile(Pem("ca.pem"));
  CommandResult again = MakeTestCa(ca_dir_);
  EXPECT_NE(again.exit_code, 0) << again.out;
  EXPECT_TRUE(Contains(again.err, "not empty")) << again.err;
  EXPECT_EQ(ReadFile(Pem("ca.pem")), ca_before);
  // A bad command line is a usage error.
  EXPECT_EQ(RunCommand({"/bin/bash", kMakeTestCa}).exit_code, 2);
}

TEST_F(TlsE2E, CliReachesATlsDaemonOnlyThroughTheRightCaAndName) {
  Daemon daemon = Daemon::Start({.database = CreateTestDatabase(), .extra_args = ServerTls()});

  CommandResult who = daemon.Cli(Cat(ClientTls(), {"whoami"}));
  ASSERT_EQ(who.exit_code, 0) << who.out << who.err << daemon.LogTail();
  EXPECT_TRUE(who.out.starts_with("admin (admin, token ")) << who.out;

  // Plaintext to the TLS port: the handshake fails, so the server is
  // unreachable (the CLI's exit code 6), and nothing is printed.
  CommandResult plain = daemon.Cli({"--timeout", "5", "whoami"});
  EXPECT_EQ(plain.exit_code, 6) << plain.out << plain.err;
  EXPECT_EQ(plain.out, "");
  // A CA that did not sign the server's certificate.
  CommandResult wrong_ca = daemon.Cli({"--timeout", "5", "--tls-ca", Pem("other-ca.pem"), "whoami"});
  EXPECT_EQ(wrong_ca.exit_code, 6) << wrong_ca.out << wrong_ca.err;
  EXPECT_EQ(wrong_ca.out, "");
  EXPECT_TRUE(Contains(wrong_ca.err, "certificate verify failed")) << wrong_ca.err;
  // The right CA, but a name the certificate is not for.
  CommandResult wrong_name = daemon.Cli(
      Cat(ClientTls(), {"--timeout", "5", "--tls-server-name", "not-mixsweepd.example", "whoami"}));
  EXPECT_EQ(wrong_name.exit_code, 6) << wrong_name.out << wrong_name.err;
  EXPECT_TRUE(Contains(wrong_name.err, "not-mixsweepd.example is not in peer certificate"))
      << wrong_name.err;
  // A name the certificate is for, other than the address's.
  CommandResult by_name =
      daemon.Cli(Cat(ClientTls(), {"--tls-server-name", "localhost", "whoami"}));
  EXPECT_EQ(by_name.exit_code, 0) << by_name.err;
  EXPECT_EQ(by_name.out, who.out);
  // TLS does not stand in for the token.
  CommandResult no_token =
      daemon.Cli(Cat(ClientTls(), {"whoami"}), {{"MIXSWEEP_TOKEN_FILE", ""}});
  EXPECT_EQ(no_token.exit_code, 7) << no_token.out << no_token.err;

  // In process, the same through client::MakeChannel: health needs no
  // token, so only the transport decides.
  HealthCheckResponse health;
  grpc::Status tls = CheckHealth(ChannelTo(daemon.address(), Pem("ca.pem")), &health);
  EXPECT_TRUE(tls.ok()) << tls.error_code() << ": " << tls.error_message();
  EXPECT_EQ(health.status(), HealthCheckResponse::SERVING);
  grpc::Status cleartext = CheckHealth(ChannelTo(daemon.address(), ""), &health);
  EXPECT_EQ(cleartext.error_code(), grpc::StatusCode::UNAVAILABLE) << cleartext.error_message();
  grpc::Status untrusted = CheckHealth(ChannelTo(daemon.address(), Pem("other-ca.pem")), &health);
  EXPECT_EQ(untrusted.error_code(), grpc::StatusCode::UNAVAILABLE) << untrusted.error_message();
  EXPECT_TRUE(Contains(untrusted.error_message(), "certificate verify failed"))
      << untrusted.error_message();

  // The refused handshakes left the daemon serving.
  CommandResult after = daemon.Cli(Cat(ClientTls(), {"whoami"}));
  EXPECT_EQ(after.exit_code, 0) << after.err << daemon.LogTail();
  EXPECT_EQ(after.out, who.out);
  daemon.Kill(SIGTERM);
  EXPECT_EQ(daemon.Wait(), 0) << daemon.LogTail();
}

TEST_F(TlsE2E, PlaintextDaemonRefusesANonLoopbackAddressButTlsMayListenThere) {
  const std::string dsn = CreateTestDatabase();
  const std::string dir = MakeTempDir("non-loopback");
  // The timeout only bounds a daemon that wrongly started serving.
  CommandResult plain = RunCommand({MIXSWEEPD_BIN, "--listen", "0.0.0.0:0", "--database", dsn,
                                    "--port-file", dir + "/plain.port"},
                                   "", 60s);
  EXPECT_NE(plain.exit_code, 0) << plain.out << plain.err;
  EXPECT_LT(plain.exit_code, 128) << "killed, not refused: it was still running";
  EXPECT_TRUE(Contains(plain.out + plain.err, "--tls-cert")) << plain.out << plain.err;
  EXPECT_FALSE(fs::exists(dir + "/plain.port")) << "it listened";

  // With a certificate the same address is accepted.
  const std::string port_file = dir + "/tls.port";
  Process tls = Process::Start(Cat({MIXSWEEPD_BIN, "--listen", "0.0.0.0:0", "--database", dsn,
                                    "--port-file", port_file},
                                   ServerTls()),
                               dir + "/tls.log");
  int port = 0;
  ASSERT_TRUE(WaitUntil([&] {
    std::ifstream in(port_file);
    return (in >> port && port > 0) || !tls.running();
  }, 60s));
  ASSERT_GT(port, 0) << FileTail(dir + "/tls.log");
  HealthCheckResponse health;
  grpc::Status status =
      CheckHealth(ChannelTo("127.0.0.1:" + std::to_string(port), Pem("ca.pem")), &health);
  EXPECT_TRUE(status.ok()) << status.error_message() << FileTail(dir + "/tls.log");
  tls.Kill(SIGTERM);
  EXPECT_EQ(tls.Wait(), 0) << FileTail(dir + "/tls.log");
}

TEST_F(TlsE2E, MutualTlsRefusesClientsWithoutTheCasCertificateAndAWorkerRunsJobs) {
  const std::string dsn = CreateTestDatabase();
  const std::string artifacts = MakeTempDir("artifacts");
  Daemon daemon = Daemon::Start(
      {.database = dsn,
       .extra_args = Cat(ServerMutualTls(), {"--artifact-root", "file://" + artifacts,
                                             "--lease-ttl-seconds", "10", "--heartbeat-seconds",
                                             "2"})});

  CommandResult who = daemon.Cli(Cat(ClientMutualTls(), {"whoami"}));
  ASSERT_EQ(who.exit_code, 0) << who.out << who.err << daemon.LogTail();
  EXPECT_TRUE(who.out.starts_with("admin (admin, token ")) << who.out;
  // Without a client certificate, and with one from an unrelated CA: no
  // connection, whatever the token.
  CommandResult no_cert = daemon.Cli(Cat(ClientTls(), {"--timeout", "5", "whoami"}));
  EXPECT_EQ(no_cert.exit_code, 6) << no_cert.out << no_cert.err;
  EXPECT_EQ(no_cert.out, "");
  CommandResult other_cert = daemon.Cli(
      Cat(ClientTls(), {"--timeout", "5", "--tls-cert", Pem("other-client.pem"), "--tls-key",
                        Pem("other-client.key"), "whoami"}));
  EXPECT_EQ(other_cert.exit_code, 6) << other_cert.out << other_cert.err;
  EXPECT_EQ(other_cert.out, "");

  // A sweep, and a worker token, both over mutual TLS.
  CommandResult submit =
      daemon.Cli(Cat(ClientMutualTls(), {"sweep", "submit", WriteSpec(PickDualBottles())}));
  ASSERT_EQ(submit.exit_code, 0) << submit.err << daemon.LogTail();
  EXPECT_TRUE(Contains(submit.out, "submitted sweep 1: 18 runs, 21 jobs")) << submit.out;
  const std::string worker_token = MakeTempDir("token") + "/worker.token";
  CommandResult token = daemon.Cli(Cat(
      ClientMutualTls(),
      {"token", "create", "--principal", "gpu-box-1", "--role", "worker", "--out", worker_token}));
  ASSERT_EQ(token.exit_code, 0) << token.err;

  // A real worker with the client certificate and its worker token.
  WorkerProcess worker = WorkerProcess::Start(
      daemon, "tls-worker", Cat(ClientMutualTls(), {"--synthetic", "--synthetic-gpus", "2"}),
      worker_token);
  ASSERT_TRUE(WaitUntil(
      [&] { return QueryInt(dsn, "SELECT count(*) FROM jobs WHERE state = 'succeeded'") >= 1; },
      120s))
      << worker.LogTail() << daemon.LogTail();
  // The jobs went to the worker registered by that token.
  EXPECT_EQ(QueryInt(dsn, "SELECT count(*) FROM workers WHERE owner = 'gpu-box-1' "
                          "AND name = 'tls-worker'"),
            1);
  EXPECT_GE(QueryInt(dsn,
                     "SELECT count(*) FROM jobs j JOIN workers w ON w.id = j.lease_worker_id "
                     "WHERE j.state = 'succeeded' AND w.owner = 'gpu-box-1'"),
            1);
  // The CLI sees it too.
  CommandResult show = daemon.Cli(Cat(ClientMutualTls(), {"--json", "sweep", "show", "1"}));
  ASSERT_EQ(show.exit_code, 0) << show.err;
  const nlohmann::json sweep = nlohmann::json::parse(show.out);
  int succeeded = 0;
  for (const auto& job : sweep["jobs"]) {
    succeeded += job.value("state", "") == "JOB_STATE_SUCCEEDED" ? 1 : 0;
  }
  EXPECT_GE(succeeded, 1) << show.out;
}

TEST_F(TlsE2E, WithoutTlsTheCliWorksOverLoopbackAndATlsClientIsRefused) {
  Daemon daemon = Daemon::Start({.database = CreateTestDatabase()});
  CommandResult who = daemon.Cli({"whoami"});
  ASSERT_EQ(who.exit_code, 0) << who.out << who.err << daemon.LogTail();
  EXPECT_TRUE(who.out.starts_with("admin (admin, token ")) << who.out;
  CommandResult submit = daemon.Cli({"sweep", "submit", WriteSpec(PickDualBottles())});
  ASSERT_EQ(submit.exit_code, 0) << submit.err << daemon.LogTail();
  EXPECT_TRUE(Contains(submit.out, "submitted sweep 1: 18 runs, 21 jobs")) << submit.out;

  // A client that insists on TLS gets no answer from a plaintext daemon.
  CommandResult tls = daemon.Cli(Cat(ClientTls(), {"--timeout", "5", "whoami"}));
  EXPECT_EQ(tls.exit_code, 6) << tls.out << tls.err;
  EXPECT_EQ(tls.out, "");
  CommandResult after = daemon.Cli({"whoami"});
  EXPECT_EQ(after.exit_code, 0) << after.err << daemon.LogTail();
  EXPECT_EQ(after.out, who.out);
}

}  // namespace
}  // namespace mixsweep::testing
