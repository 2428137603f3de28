/*
 * Sabotage for the power-cut tests: an LD_PRELOAD library that makes the sync calls lie.
 *
 *   RANANEETI_NOSYNC=all           fsync, fdatasync, syncfs and sync_file_range return 0 and sync nothing
 *   RANANEETI_NOSYNC=directories   only an fsync of a directory lies; files are synced for real
 *
 * Under it a program that promises durability breaks that promise while everything it sees still
 * succeeds; the power-cut tests must notice (tests/powercut/README.md). Never used outside them.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int lies_about(int fd) {
    const char *mode = getenv("RANANEETI_NOSYNC");
    if (mode == NULL || strcmp(mode, "all") == 0) return 1;
    if (strcmp(mode, "directories") == 0) {
        struct stat info;
        return fstat(fd, &info) == 0 && S_ISDIR(info.st_mode);
    }
    return 1;
}

int fsync(int fd) {
    if (lies_about(fd)) return 0;
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return real(fd);
}

int fdatasync(int fd) {
    if (lies_about(fd)) return 0;
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return real(fd);
}

int syncfs(int fd) {
    if (lies_about(fd)) return 0;
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "syncfs");
    return real(fd);
}

int sync_file_range(int fd, off_t offset, off_t nbytes, unsigned int flags) {
    if (lies_about(fd)) return 0;
    int (*real)(int, off_t, off_t, unsigned int) =
        (int (*)(int, off_t, off_t, unsigned int))dlsym(RTLD_NEXT, "sync_file_range");
    return real(fd, offset, nbytes, flags);
}
