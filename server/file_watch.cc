#include "server/file_watch.h"

#include <sys/stat.h>

namespace revrouter::server {

FileStamp stamp_file(const std::string& path) {
  struct stat st {};
  FileStamp s;
  if (::stat(path.c_str(), &st) != 0) return s;
  s.exists = true;
  s.device = static_cast<std::uint64_t>(st.st_dev);
  s.inode = static_cast<std::uint64_t>(st.st_ino);
  s.size = static_cast<std::uint64_t>(st.st_size);
  s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return s;
}

void FileSetWatch::reset(std::vector<std::string> paths) {
  paths_ = std::move(paths);
  stamps_.clear();
  for (const auto& p : paths_) stamps_.push_back(stamp_file(p));
}

bool FileSetWatch::poll() {
  bool changed = false;
  for (std::size_t i = 0; i < paths_.size(); ++i) {
    FileStamp now = stamp_file(paths_[i]);
    if (!(now == stamps_[i])) {
      stamps_[i] = now;
      changed = true;
    }
  }
  return changed;
}

}  // namespace revrouter::server
