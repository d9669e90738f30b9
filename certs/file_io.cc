#include "certs/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace revrouter::certs {
namespace {

std::string os_error(int err) { return std::strerror(err); }

// Closes a descriptor on scope exit unless released.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace

Status write_file_atomic(const std::filesystem::path& path, std::string_view content, mode_t mode) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp.XXXXXX")).string();
  const int raw_fd = ::mkstemp(tmpl.data());
  if (raw_fd < 0) {
    return make_error("write",
                      "creating a temporary file in " + dir.string() + ": " + os_error(errno));
  }
  FdCloser fd(raw_fd);
  bool renamed = false;
  // Removes the temporary file on every failure path.
  struct TempRemover {
    const std::string& name;
    const bool& done;
    ~TempRemover() {
      if (!done) ::unlink(name.c_str());
    }
  } remover{tmpl, renamed};

  // mkstemp creates 0600; set the final mode before writing so a key is never more readable.
  if (::fchmod(fd.get(), mode) != 0) {
    return make_error("write", "setting mode of " + tmpl + ": " + os_error(errno));
  }
  size_t offset = 0;
  while (offset < content.size()) {
    const ssize_t n = ::write(fd.get(), content.data() + offset, content.size() - offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error("write", "writing " + tmpl + ": " + os_error(errno));
    }
    offset += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) {
    return make_error("write", "syncing " + tmpl + ": " + os_error(errno));
  }
  if (::close(fd.release()) != 0) {
    return make_error("write", "closing " + tmpl + ": " + os_error(errno));
  }
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    return make_error("write",
                      "renaming " + tmpl + " to " + path.string() + ": " + os_error(errno));
  }
  renamed = true;
  // Make the rename itself durable; failure here leaves a complete file, so it is not an error.
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return Ok{};
}

Result<std::string> read_file(const std::filesystem::path& path) {
  const int raw_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw_fd < 0) {
    return make_error("unreadable", "cannot read " + path.string() + ": " + os_error(errno));
  }
  FdCloser fd(raw_fd);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return make_error("unreadable", "cannot stat " + path.string() + ": " + os_error(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    return make_error("unreadable", "cannot read " + path.string() + ": is a directory");
  }
  std::string out;
  char buf[16384];
  while (true) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error("unreadable", "cannot read " + path.string() + ": " + os_error(errno));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace revrouter::certs
