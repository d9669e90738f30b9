// `revrouter certs` end to end: runs the built binary into a temporary directory and checks what
// it wrote with the library and OpenSSL's verifier.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <string>
#include <vector>

#include "certs/cert_check.h"
#include "certs/cert_set.h"
#include "certs/file_io.h"
#include "certs/pem.h"
#include "tests/certs/test_support.h"

extern char** environ;

namespace revrouter::certs {
namespace {

namespace fs = std::filesystem;

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs REVROUTER_BINARY with `args`, stdout and stderr captured through files in `scratch`.
RunResult run_revrouter(const fs::path& scratch, std::vector<std::string> args) {
  args.insert(args.begin(), REVROUTER_BINARY);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string out_path = (scratch / "stdout").string();
  const std::string err_path = (scratch / "stderr").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  RunResult result;
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    result.err = "posix_spawn failed: " + std::to_string(rc);
    return result;
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) == pid && WIFEXITED(status))
    result.exit_code = WEXITSTATUS(status);
  auto out = read_file(out_path);
  auto err = read_file(err_path);
  result.out = out.ok() ? *out : "";
  result.err = err.ok() ? *err : "";
  return result;
}

std::string read(const fs::path& path) {
  auto content = read_file(path);
  return content.ok() ? *content : "<unreadable: " + content.error().message + ">";
}

mode_t file_mode(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

X509Ptr load_cert(const fs::path& path) {
  auto cert = cert_from_pem(read(path));
  return cert.ok() ? std::move(cert).value() : nullptr;
}

TEST(CertsCli, WritesAVerifiableSetAndPrintsTheCaBundle) {
  testing::TempDir tmp;
  const fs::path out = tmp.path() / "out";
  const RunResult run = run_revrouter(
      tmp.path(), {"certs", "--service", "revrouter", "--namespace", "istio-system", "--out-dir",
                   out.string(), "--ip", "127.0.0.1", "--dns", "localhost", "--client"});
  ASSERT_EQ(run.exit_code, 0) << run.err;

  // stdout is exactly the caBundle line, so `$(revrouter certs ...)` captures it.
  ASSERT_FALSE(run.out.empty());
  EXPECT_EQ(run.out.back(), '\n');
  const std::string bundle = run.out.substr(0, run.out.size() - 1);
  auto decoded = base64_decode(bundle);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(*decoded, read(out / kCaCertFile));

  struct Pair {
    const char* crt;
    const char* key;
    CertUse use;
  };
  for (const auto& [crt, key, use] : {Pair{kCaCertFile, kCaKeyFile, CertUse::kAny},
                                      Pair{kTlsCertFile, kTlsKeyFile, CertUse::kTlsServer},
                                      Pair{kClientCertFile, kClientKeyFile, CertUse::kTlsClient}}) {
    auto summary = check_cert_key_files(out / crt, out / key, {use, std::nullopt});
    EXPECT_TRUE(summary.ok()) << crt << ": " << summary.error().message;
    EXPECT_EQ(file_mode(out / crt), 0644u) << crt;
    EXPECT_EQ(file_mode(out / key), 0600u) << key;
  }

  X509Ptr ca = load_cert(out / kCaCertFile);
  X509Ptr tls = load_cert(out / kTlsCertFile);
  X509Ptr client = load_cert(out / kClientCertFile);
  ASSERT_TRUE(ca && tls && client);
  for (const testing::VerifyRequest& request : std::vector<testing::VerifyRequest>{
           {"revrouter.istio-system.svc", "", X509_PURPOSE_SSL_SERVER},
           {"revrouter.istio-system.svc.cluster.local", "", X509_PURPOSE_SSL_SERVER},
           {"localhost", "", X509_PURPOSE_SSL_SERVER},
           {"", "127.0.0.1", X509_PURPOSE_SSL_SERVER}}) {
    const int got = testing::verify_chain(ca.get(), tls.get(), request);
    EXPECT_EQ(got, X509_V_OK) << request.host << request.ip << ": "
                              << testing::verify_error_string(got);
  }
  EXPECT_EQ(testing::verify_chain(ca.get(), tls.get(),
                                  {"wrong.istio-system.svc", "", X509_PURPOSE_SSL_SERVER}),
            X509_V_ERR_HOSTNAME_MISMATCH);
  EXPECT_EQ(testing::verify_chain(ca.get(), client.get(), {"", "", X509_PURPOSE_SSL_CLIENT}),
            X509_V_OK);

  // `certs ca-bundle` prints the same bundle for the written CA.
  const RunResult again =
      run_revrouter(tmp.path(), {"certs", "ca-bundle", "--ca", (out / kCaCertFile).string()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, run.out);
}

TEST(CertsCli, KeyTypeAndDaysAreApplied) {
  testing::TempDir tmp;
  const fs::path out = tmp.path() / "out";
  const RunResult run = run_revrouter(
      tmp.path(), {"certs", "--service", "revrouter", "--namespace", "istio-system", "--out-dir",
                   out.string(), "--key-type", "rsa-2048", "--days", "30"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto summary = check_cert_key_files(out / kTlsCertFile, out / kTlsKeyFile);
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(summary->key_type, KeyType::kRsa2048);
  EXPECT_EQ(summary->not_after - summary->not_before, 30 * 86400 + 5 * 60);
  EXPECT_FALSE(fs::exists(out / kClientCertFile));
}

TEST(CertsCli, BadInvocationsFailWithAClearMessage) {
  struct Case {
    const char* rule;
    std::vector<std::string> args;  // --out-dir is appended unless the row tests it
    bool add_out_dir;
    int exit_code;
    const char* stderr_part;
  };
  const std::vector<Case> cases = {
      {"service_required",
       {"certs", "--namespace", "istio-system"},
       true,
       2,
       "--service is required"},
      {"namespace_required",
       {"certs", "--service", "revrouter"},
       true,
       2,
       "--namespace is required"},
      {"out_dir_required",
       {"certs", "--service", "revrouter", "--namespace", "istio-system"},
       false,
       2,
       "--out-dir is required"},
      {"unknown_key_type",
       {"certs", "--service", "revrouter", "--namespace", "istio-system", "--key-type", "dsa"},
       true,
       2,
       "unknown key type \"dsa\""},
      {"invalid_ip",
       {"certs", "--service", "revrouter", "--namespace", "istio-system", "--ip", "1.2.3"},
       true,
       2,
       "\"1.2.3\" is not an IPv4 or IPv6 address"},
      {"invalid_service",
       {"certs", "--service", "Rev_Router", "--namespace", "istio-system"},
       true,
       2,
       "not a DNS-1123 label"},
      {"serving_outlives_ca",
       {"certs", "--service", "revrouter", "--namespace", "istio-system", "--days", "400",
        "--ca-days", "300"},
       true,
       2,
       "must not exceed --ca-days"},
  };
  for (const auto& c : cases) {
    testing::TempDir tmp;
    std::vector<std::string> args = c.args;
    if (c.add_out_dir) {
      args.push_back("--out-dir");
      args.push_back((tmp.path() / "out").string());
    }
    const RunResult run = run_revrouter(tmp.path(), args);
    EXPECT_EQ(run.exit_code, c.exit_code) << c.rule << ": " << run.err;
    EXPECT_NE(run.err.find(c.stderr_part), std::string::npos) << c.rule << ": " << run.err;
    EXPECT_EQ(run.out, "") << c.rule;
    EXPECT_FALSE(fs::exists(tmp.path() / "out" / kCaKeyFile)) << c.rule;
  }
}

TEST(CertsCli, ExistingCertificatesAreNotReplacedWithoutForce) {
  testing::TempDir tmp;
  const fs::path out = tmp.path() / "out";
  const std::vector<std::string> args = {"certs",        "--service", "revrouter", "--namespace",
                                         "istio-system", "--out-dir", out.string()};
  ASSERT_EQ(run_revrouter(tmp.path(), args).exit_code, 0);
  const std::string ca_key = read(out / kCaKeyFile);

  const RunResult refused = run_revrouter(tmp.path(), args);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("already exists"), std::string::npos) << refused.err;
  EXPECT_EQ(read(out / kCaKeyFile), ca_key);

  std::vector<std::string> forced = args;
  forced.push_back("--force");
  const RunResult replaced = run_revrouter(tmp.path(), forced);
  EXPECT_EQ(replaced.exit_code, 0) << replaced.err;
  EXPECT_NE(read(out / kCaKeyFile), ca_key);
}

TEST(CertsCli, CaBundleRefusesNonCaAndMissingFiles) {
  testing::TempDir tmp;
  const fs::path out = tmp.path() / "out";
  ASSERT_EQ(run_revrouter(tmp.path(), {"certs", "--service", "revrouter", "--namespace",
                                       "istio-system", "--out-dir", out.string()})
                .exit_code,
            0);
  const RunResult leaf =
      run_revrouter(tmp.path(), {"certs", "ca-bundle", "--ca", (out / kTlsCertFile).string()});
  EXPECT_EQ(leaf.exit_code, 1);
  EXPECT_NE(leaf.err.find("not a CA"), std::string::npos) << leaf.err;
  EXPECT_EQ(leaf.out, "");

  const RunResult missing =
      run_revrouter(tmp.path(), {"certs", "ca-bundle", "--ca", (out / "nope.crt").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("nope.crt"), std::string::npos) << missing.err;

  const RunResult no_flag = run_revrouter(tmp.path(), {"certs", "ca-bundle"});
  EXPECT_NE(no_flag.exit_code, 0);
  EXPECT_NE(no_flag.err.find("--ca"), std::string::npos) << no_flag.err;
}

}  // namespace
}  // namespace revrouter::certs
