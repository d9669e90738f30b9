// Certificates for the server tests, from the project's certs library: one CA issuing serving
// certificates for the webhook Service name (revrouter.istio-system.svc, plus localhost and
// 127.0.0.1) and client certificates for mTLS, written as PEM files.
#pragma once

#include <filesystem>
#include <string>

#include "certs/certificate.h"
#include "certs/key.h"

namespace revrouter::server::testing {

inline constexpr const char* kServiceName = "revrouter.istio-system.svc";

struct PemPair {
  std::string cert, key;
};

class TestPki {
 public:
  TestPki();  // a fresh CA; throws on failure (test set-up)
  PemPair serving(certs::KeyType key_type = certs::KeyType::kEcdsaP256) const;
  PemPair client() const;
  std::string ca_pem() const;

 private:
  certs::Credential ca_;
};

// A directory under TMPDIR, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

void write_text(const std::filesystem::path& path, const std::string& text);
std::string read_text(const std::filesystem::path& path);

// A Kubernetes Secret/ConfigMap volume: `dir/<name>` -> `..data/<name>` -> `..<version>/<name>`.
// update() writes a new version directory and swaps the `..data` symlink atomically, as the
// kubelet does.
class ProjectedVolume {
 public:
  explicit ProjectedVolume(std::filesystem::path dir);
  void update(const std::vector<std::pair<std::string, std::string>>& files);
  std::filesystem::path file(const std::string& name) const { return dir_ / name; }

 private:
  std::filesystem::path dir_;
  int version_ = 0;
};

}  // namespace revrouter::server::testing
