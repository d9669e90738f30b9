#include "tests/server/support/test_pki.h"

#include <stdlib.h>

#include <fstream>
#include <iterator>
#include <stdexcept>

#include "certs/pem.h"

namespace revrouter::server::testing {
namespace {

template <class T>
T must(Result<T> r, const char* what) {
  if (!r) throw std::runtime_error(std::string(what) + ": " + r.error().message);
  return std::move(r).value();
}

PemPair to_pem(const certs::Credential& c) {
  return {must(certs::cert_to_pem(c.cert.get()), "cert_to_pem"),
          must(certs::key_to_pem(c.key.get()), "key_to_pem")};
}

}  // namespace

TestPki::TestPki() : ca_(must(certs::create_ca(certs::CaOptions{}), "create_ca")) {}

PemPair TestPki::serving(certs::KeyType key_type) const {
  certs::ServingOptions o;
  o.service = "revrouter";
  o.namespace_ = "istio-system";
  o.extra_dns_names = {"localhost"};
  o.ip_addresses = {"127.0.0.1"};
  o.key_type = key_type;
  return to_pem(must(certs::issue_serving_cert(ca_, o), "issue_serving_cert"));
}

PemPair TestPki::client() const {
  return to_pem(must(certs::issue_client_cert(ca_, certs::ClientOptions{}), "issue_client_cert"));
}

std::string TestPki::ca_pem() const { return must(certs::cert_to_pem(ca_.cert.get()), "ca pem"); }

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "revrouter-server-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);  // readers see the old or the new file, whole
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

ProjectedVolume::ProjectedVolume(std::filesystem::path dir) : dir_(std::move(dir)) {
  std::filesystem::create_directories(dir_);
}

void ProjectedVolume::update(const std::vector<std::pair<std::string, std::string>>& files) {
  namespace fs = std::filesystem;
  const std::string version = "..v" + std::to_string(++version_);
  fs::create_directories(dir_ / version);
  for (const auto& [name, text] : files) write_text(dir_ / version / name, text);
  fs::create_symlink(version, dir_ / "..data_tmp");
  fs::rename(dir_ / "..data_tmp", dir_ / "..data");  // the atomic swap
  for (const auto& [name, text] : files) {
    if (!fs::is_symlink(dir_ / name)) fs::create_symlink(fs::path("..data") / name, dir_ / name);
  }
}

}  // namespace revrouter::server::testing
