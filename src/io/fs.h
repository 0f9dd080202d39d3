/*
 * io/fs.h - the file-system half of the io layer (internal to the library):
 * creating and removing directory trees, fsync of files and directories, and
 * publishing a finished file or directory under its final name.
 *
 * One durability rule for every publisher (datasets, checkpoints, model files,
 * reports): the new file or directory is fsynced, renamed into place, and then
 * its parent directory is fsynced, because a rename is persistent only once
 * the directory holding the new entry is.  Every failure names the path.
 */
#ifndef TRIB_IO_FS_H
#define TRIB_IO_FS_H

#include <stddef.h>

#include "tributary/status.h"

/* mkdir -p: creates dir and its missing parents; an existing directory is fine. */
int trib_io_mkdir_p(const char *dir);
/* rm -rf: removes path (a file or a whole tree); a missing path is fine. */
int trib_io_rmtree(const char *path);
/* fsync of a regular file, of a directory, and of the directory that holds path. */
int trib_io_fsync_file(const char *path);
int trib_io_fsync_dir(const char *path);
int trib_io_fsync_parent(const char *path);

/* The temporary name a publisher writes to next to path: "<path>.tmp.<pid>". */
int trib_io_temp_name(char *out, size_t cap, const char *path);

/*
 * Publishes the finished file tmp as path: fsync tmp, rename it over path,
 * fsync the parent directory.  On failure tmp is removed and path is left as
 * it was (or, when only the final fsync failed, holds the new file).
 */
int trib_io_publish_file(const char *tmp, const char *path);

/* Writes len bytes to path through a temporary file and trib_io_publish_file. */
int trib_io_write_file_atomic(const char *path, const void *data, size_t len);

/*
 * Directories.  trib_io_move_dir moves the directory tmp to path: a plain
 * rename when path is missing or an empty directory, otherwise an atomic swap
 * (renameat2 RENAME_EXCHANGE) after which tmp holds the old content; *how says
 * which, so that trib_io_undo_move can put things back (all-or-none commits of
 * several outputs).  trib_io_replace_dir moves tmp into place and removes the
 * old content; where the file system has no RENAME_EXCHANGE, the old
 * directory is first renamed to aside_name in the same parent (NULL: a hidden
 * ".<name>.old-<pid>").  trib_io_publish_dir is the whole rule for one
 * directory: fsync tmp, replace, fsync the parent.
 */
enum { TRIB_IO_MOVED_NONE, TRIB_IO_MOVED_RENAMED, TRIB_IO_MOVED_RENAMED_OVER_EMPTY, TRIB_IO_MOVED_EXCHANGED };
int trib_io_move_dir(const char *tmp, const char *path, int *how);
void trib_io_undo_move(const char *tmp, const char *path, int how);
int trib_io_replace_dir(const char *tmp, const char *path, const char *aside_name);
int trib_io_publish_dir(const char *tmp, const char *path, const char *aside_name);

#endif
