#!/usr/bin/env python3
"""A FUSE file system that loses, on command, everything that was not synced: a power cut.

    powercutfs.py MOUNTPOINT --control SOCKET      mount (foreground) and serve until unmounted

Processes use the mount as an ordinary file system. Written bytes and directory changes stay in this
process's memory, in the current image; fsync/fdatasync of a file moves its bytes to the durable image,
fsync of a directory its names (see durability.py for the exact model). A client of SOCKET (one line per
request, one JSON line per answer) can ask:

    ping                   {"ok": true}
    stats                  counts of writes, syncs, cuts, and the unsynced bytes
    arm N MODE SEED        the power goes during the N-th change from now (write, truncate, sync, create,
                           rename, unlink, mkdir…); MODE drop, tear or scatter (durability.py); SEED fixes the
                           tear. From then on every call fails with EIO.
    wait-off SECONDS       waits until an armed power cut came (at most SECONDS): {"ok": true, "off": …}
    cut MODE SEED          the power cut now (or the end of one that came): unsynced changes dropped, open
                           handles forgotten, the power back on with what the disk held

Before `cut`, the caller must have killed (SIGKILL) and reaped every process using the mount: a process
blocked in a request to this file system is not reaped until the request is answered, so after the reap
no request of the dead process can arrive after the cut.

The kernel must not remember anything a cut takes back: every open is direct I/O (no page cache), and
names and attributes are never cached (timeouts 0). Needs /dev/fuse, and root (or fusermount3).
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import random
import socket
import stat
import sys
import threading

import mfusepy

from durability import DurabilityModel, FileSystemError


class PowerCutFS(mfusepy.Operations):
    use_ns = True

    def __init__(self, control_path: str):
        self.model = DurabilityModel()
        self.mutex = threading.Lock()
        self.power_went = threading.Event()
        self.control_path = control_path

    # Every operation runs under the one lock, so that a cut sees no operation half done. While the power is
    # off every call fails (EIO), but closing: a dying process closes its files.
    def _locked(self, action, when_off_too: bool = False):
        with self.mutex:
            try:
                if not when_off_too:
                    self.model.refuse_if_off()
                return action()
            except FileSystemError as error:
                raise mfusepy.FuseOSError(error.errno) from None

    def _change(self, action):
        """A change to the file system: it counts towards an armed power cut, which may come during it."""
        def counted():
            result = action()
            if self.model.count_change():
                self.power_went.set()
                raise FileSystemError(errno.EIO, "the power went")
            return result
        return self._locked(counted)

    def init(self, path):
        threading.Thread(target=self._serve_control, name="control", daemon=True).start()

    # Attributes and names

    def getattr(self, path, fh=None):
        def action():
            inode = self.model.handle(fh) if fh is not None else self.model.lookup(path)
            return {
                "st_mode": inode.mode, "st_ino": inode.number, "st_nlink": self.model.link_count(inode),
                "st_size": len(inode.data) if not inode.is_directory else 4096,
                "st_uid": os.getuid(), "st_gid": os.getgid(), "st_blocks": (len(inode.data) + 511) // 512,
                "st_atime": inode.modified_ns, "st_mtime": inode.modified_ns, "st_ctime": inode.changed_ns,
            }
        return self._locked(action)

    def readdir(self, path, fh):
        # With an inode number each: readdir(3) skips entries whose d_ino is 0.
        def action():
            directory = self.model.handle(fh)
            listed = [(".", directory), ("..", directory)] + list(directory.entries.items())
            return [(name, {"st_mode": inode.mode, "st_ino": inode.number}, 0) for name, inode in listed]
        return self._locked(action)

    def mkdir(self, path, mode):
        self._change(lambda: self.model.mkdir(path, mode))
        return 0

    def rmdir(self, path):
        self._change(lambda: self.model.rmdir(path))
        return 0

    def unlink(self, path):
        self._change(lambda: self.model.unlink(path))
        return 0

    def rename(self, old, new):
        self._change(lambda: self.model.rename(old, new))
        return 0

    def chmod(self, path, mode):
        def action():
            inode = self.model.lookup(path)
            inode.mode = (inode.mode & ~0o7777) | (mode & 0o7777)
        self._locked(action)
        return 0

    def chown(self, path, uid, gid):
        return 0

    def utimens(self, path, times=None):
        self._locked(lambda: self.model.lookup(path).touch())
        return 0

    def statfs(self, path):
        return {"f_bsize": 4096, "f_frsize": 4096, "f_blocks": 1 << 20, "f_bfree": 1 << 19, "f_bavail": 1 << 19,
                "f_files": 1 << 20, "f_ffree": 1 << 19, "f_favail": 1 << 19, "f_namemax": 255}

    # Files

    def create(self, path, mode, flags):
        def action():
            inode = self.model.create(path, mode, exclusive=bool(flags & os.O_EXCL))
            if flags & os.O_TRUNC and inode.data:
                self.model.truncate(inode, 0)
            return self.model.open_handle(inode)
        return self._change(action)

    def open(self, path, flags):
        def action():
            inode = self.model.lookup(path)
            if flags & os.O_TRUNC and inode.data:
                self.model.truncate(inode, 0)
            return self.model.open_handle(inode)
        return self._locked(action)

    def read(self, path, size, offset, fh):
        return self._locked(lambda: self.model.read(self.model.handle(fh), offset, size))

    def write(self, path, data, offset, fh):
        return self._change(lambda: self.model.write(self.model.handle(fh), offset, data))

    def truncate(self, path, length, fh=None):
        self._change(lambda: self.model.truncate(self.model.lookup(path), length))
        return 0

    def flush(self, path, fh):
        return 0  # close() promises nothing about the disk, and must work while the power is off

    def release(self, path, fh):
        self._locked(lambda: self.model.close_handle(fh), when_off_too=True)
        return 0

    def fsync(self, path, datasync, fh):
        self._change(lambda: self.model.sync_file(self.model.handle(fh)))
        return 0

    # Directories

    def opendir(self, path):
        def action():
            inode = self.model.lookup(path)
            if not inode.is_directory:
                raise FileSystemError(errno.ENOTDIR, path)
            return self.model.open_handle(inode)
        return self._locked(action)

    def releasedir(self, path, fh):
        self._locked(lambda: self.model.close_handle(fh), when_off_too=True)
        return 0

    def fsyncdir(self, path, datasync, fh):
        self._change(lambda: self.model.sync_directory(self.model.handle(fh)))
        return 0

    # The control socket

    def _serve_control(self):
        if os.path.exists(self.control_path):
            os.unlink(self.control_path)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(self.control_path)
        server.listen(4)
        while True:
            connection, _ = server.accept()
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection, connection.makefile("rw", encoding="utf-8") as stream:
            for line in stream:
                try:
                    answer = self._command(line.split())
                except (ValueError, IndexError) as error:
                    answer = {"ok": False, "error": str(error)}
                stream.write(json.dumps(answer) + "\n")
                stream.flush()

    def _command(self, words: list[str]) -> dict:
        if words == ["ping"]:
            return {"ok": True}
        if words == ["stats"]:
            with self.mutex:
                return {"ok": True, **self.model.counts, "unsynced_bytes": self.model.unsynced_bytes()}
        if len(words) == 4 and words[0] == "arm":
            with self.mutex:
                self.power_went.clear()
                self.model.arm(int(words[1]), words[2], random.Random(int(words[3])))
            return {"ok": True}
        if len(words) == 2 and words[0] == "wait-off":
            return {"ok": True, "off": self.power_went.wait(timeout=float(words[1]))}
        if len(words) == 3 and words[0] == "cut":
            with self.mutex:
                report = self.model.cut(words[1], random.Random(int(words[2])))
                self.power_went.clear()
            return {"ok": True, **report.as_dict()}
        raise ValueError(f"unknown command: {' '.join(words)!r} (ping, stats, arm N MODE SEED, wait-off SECONDS, "
                         f"cut MODE SEED)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mountpoint")
    parser.add_argument("--control", required=True, help="the control socket's path (outside the mount)")
    arguments = parser.parse_args()
    if not os.path.isdir(arguments.mountpoint):
        print(f"powercutfs: {arguments.mountpoint} is not a directory", file=sys.stderr)
        return 2
    mfusepy.FUSE(PowerCutFS(arguments.control), arguments.mountpoint, foreground=True,
                 fsname="powercutfs", direct_io=True, hard_remove=True, use_ino=True,
                 entry_timeout=0, attr_timeout=0, negative_timeout=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
