#include "server/file_watch.h"

#include <gtest/gtest.h>

#include "tests/server/support/test_pki.h"

namespace revrouter::server {
namespace {

using testing::ProjectedVolume;
using testing::TempDir;
using testing::write_text;

TEST(FileSetWatchTest, UnchangedFilesAreQuiet) {
  TempDir dir;
  write_text(dir / "a", "one");
  FileSetWatch watch;
  watch.reset({(dir / "a").string()});
  EXPECT_FALSE(watch.poll());
  EXPECT_FALSE(watch.poll());
}

TEST(FileSetWatchTest, ReplacedFileIsAChangeReportedOnce) {
  TempDir dir;
  write_text(dir / "a", "one");
  FileSetWatch watch;
  watch.reset({(dir / "a").string()});
  write_text(dir / "a", "two");  // a rename over the old file: a new inode
  EXPECT_TRUE(watch.poll());
  EXPECT_FALSE(watch.poll());
}

TEST(FileSetWatchTest, SymlinkSwapOfAProjectedVolumeIsAChange) {
  TempDir dir;
  ProjectedVolume volume(dir / "secret");
  volume.update({{"tls.crt", "v1"}});
  FileSetWatch watch;
  watch.reset({volume.file("tls.crt").string()});
  volume.update({{"tls.crt", "v1"}});  // same content, new version directory
  EXPECT_TRUE(watch.poll());
}

TEST(FileSetWatchTest, DeletedAndRecreatedFilesAreChanges) {
  TempDir dir;
  write_text(dir / "a", "one");
  FileSetWatch watch;
  watch.reset({(dir / "a").string()});
  std::filesystem::remove(dir / "a");
  EXPECT_TRUE(watch.poll());
  EXPECT_FALSE(watch.poll());
  write_text(dir / "a", "one");
  EXPECT_TRUE(watch.poll());
}

TEST(FileStampTest, MissingFileDoesNotExist) {
  TempDir dir;
  EXPECT_FALSE(stamp_file((dir / "missing").string()).exists);
}

}  // namespace
}  // namespace revrouter::server
