// Notices that files changed, by polling their identity. Kubernetes updates a Secret or ConfigMap
// volume by swapping a symlink to a new directory, so a file's inode, size or mtime (read through
// the symlink) changes even when its name does not; inotify on the name would miss that.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace revrouter::server {

struct FileStamp {
  bool exists = false;
  std::uint64_t device = 0, inode = 0, size = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

FileStamp stamp_file(const std::string& path);  // follows symlinks

class FileSetWatch {
 public:
  // Starts watching `paths`, taking their current stamps as the baseline.
  void reset(std::vector<std::string> paths);
  // True if any file's stamp differs from the baseline; the baseline moves to the current stamps.
  bool poll();
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  std::vector<std::string> paths_;
  std::vector<FileStamp> stamps_;
};

}  // namespace revrouter::server
