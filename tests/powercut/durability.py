"""What a disk keeps when the power goes: a file system model with a current and a durable image.

The model is the whole of the power-cut file system's meaning; `powercutfs.py` only connects it to FUSE.
Nothing here does I/O, so `test_durability.py` checks it without mounting anything.

Every inode has two states:

- the *current* state, what running processes see: file bytes after every write and truncate; a
  directory's names after every create, mkdir, rename and unlink;
- the *durable* state, what the disk holds: a file's bytes as of its last fsync/fdatasync (fdatasync
  also makes the file's size durable, as it must for the data to be read back); a directory's names as of
  its last fsync. A name is durable only in the directories that were synced after it was made: a new
  file that was fsync'd but whose directory was not is an orphan on disk, and is gone after a cut.

The power cut comes in two steps. The power goes (`arm()`: during the n-th change from now, a write,
truncate, sync or change of names; or at `cut()` when nothing was armed): every unsynced change is dropped,
the current state becomes the durable one, and from then on every call fails with EIO, as a dead machine's
disk answers nothing. Then `cut()`, once the processes that used the file system are dead, forgets their open
handles and turns the power back on. What was in flight may partly survive, as on a disk that was writing
when the power went:

- `drop`: nothing unsynced survives;
- `tear`: for each file, a prefix of its unsynced writes survives, the last one cut at a random byte;
- `scatter`: each 4 KiB page of each unsynced write survives or not, at random (holes read as zeros),
  and each directory with unsynced changes keeps either all of them or none.

Directory entries, inodes and file bytes are only ever made durable by an explicit sync, never by time
passing (a real file system's periodic commit is allowed to keep more, never less; a program correct
here is correct there).
"""
from __future__ import annotations

import errno
import random
import stat
import time

PAGE = 4096


class FileSystemError(OSError):
    def __init__(self, code: int, what: str = ""):
        super().__init__(code, f"{errno.errorcode.get(code, code)}{': ' + what if what else ''}")


def _apply(buffer: bytearray, op: tuple) -> None:
    """Applies one write or truncate to `buffer` in place (a write past the end zero-fills the gap)."""
    if op[0] == "write":
        _, offset, data = op
        if offset > len(buffer):
            buffer.extend(bytes(offset - len(buffer)))
        buffer[offset:offset + len(data)] = data
    else:
        _, size = op
        if size < len(buffer):
            del buffer[size:]
        else:
            buffer.extend(bytes(size - len(buffer)))


class Inode:
    __slots__ = ("number", "is_directory", "mode", "data", "durable_data", "pending", "entries",
                 "durable_entries", "modified_ns", "changed_ns")

    def __init__(self, number: int, is_directory: bool, mode: int):
        self.number = number
        self.is_directory = is_directory
        self.mode = mode
        # Files: the bytes processes see, the bytes on disk, and the writes and truncates in between (in
        # order), so that a cut can keep part of them.
        self.data = bytearray()
        self.durable_data = bytearray()
        self.pending: list[tuple] = []
        # Directories: name -> inode, as processes see it and as the disk holds it.
        self.entries: dict[str, Inode] = {}
        self.durable_entries: dict[str, Inode] = {}
        self.modified_ns = self.changed_ns = time.time_ns()

    def touch(self) -> None:
        self.modified_ns = self.changed_ns = time.time_ns()


class CutReport:
    def __init__(self, mode: str):
        self.mode = mode
        self.files_with_unsynced_data = 0
        self.bytes_dropped = 0
        self.bytes_kept = 0
        self.directories_reverted = 0
        self.directories_kept = 0
        self.inodes_forgotten = 0

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in (
            "mode", "files_with_unsynced_data", "bytes_dropped", "bytes_kept", "directories_reverted",
            "directories_kept", "inodes_forgotten")}


class DurabilityModel:
    """The file system's state. Not thread-safe: the caller holds one lock around every call."""

    CUT_MODES = ("drop", "tear", "scatter")

    def __init__(self):
        self.next_number = 2
        self.root = Inode(1, True, stat.S_IFDIR | 0o755)
        # Open files and directories by handle; a handle outlives the name (unlink of an open file).
        self.handles: dict[int, Inode] = {}
        self.next_handle = 1
        self.counts = {"writes": 0, "bytes_written": 0, "file_syncs": 0, "directory_syncs": 0, "cuts": 0}
        # The power: (changes left, mode, random generator) while armed; the report of the loss once it went.
        self.armed: tuple[int, str, random.Random] | None = None
        self.off: CutReport | None = None

    # Names

    def lookup(self, path: str) -> Inode:
        node = self.root
        for part in self._parts(path):
            if not node.is_directory:
                raise FileSystemError(errno.ENOTDIR, path)
            child = node.entries.get(part)
            if child is None:
                raise FileSystemError(errno.ENOENT, path)
            node = child
        return node

    def _parent(self, path: str) -> tuple[Inode, str]:
        parts = self._parts(path)
        if not parts:
            raise FileSystemError(errno.EINVAL, path)
        parent = self.lookup("/" + "/".join(parts[:-1]))
        if not parent.is_directory:
            raise FileSystemError(errno.ENOTDIR, path)
        return parent, parts[-1]

    @staticmethod
    def _parts(path: str) -> list[str]:
        return [part for part in path.split("/") if part]

    def _new_inode(self, is_directory: bool, mode: int) -> Inode:
        inode = Inode(self.next_number, is_directory, mode)
        self.next_number += 1
        return inode

    def link_count(self, inode: Inode) -> int:
        if inode.is_directory:
            return 2 + sum(1 for child in inode.entries.values() if child.is_directory)
        return 1

    def create(self, path: str, mode: int, exclusive: bool = False) -> Inode:
        parent, name = self._parent(path)
        existing = parent.entries.get(name)
        if existing is not None:
            if exclusive:
                raise FileSystemError(errno.EEXIST, path)
            if existing.is_directory:
                raise FileSystemError(errno.EISDIR, path)
            return existing
        inode = self._new_inode(False, stat.S_IFREG | (mode & 0o7777))
        parent.entries[name] = inode
        parent.touch()
        return inode

    def mkdir(self, path: str, mode: int) -> Inode:
        parent, name = self._parent(path)
        if name in parent.entries:
            raise FileSystemError(errno.EEXIST, path)
        inode = self._new_inode(True, stat.S_IFDIR | (mode & 0o7777))
        parent.entries[name] = inode
        parent.touch()
        return inode

    def unlink(self, path: str) -> None:
        parent, name = self._parent(path)
        inode = parent.entries.get(name)
        if inode is None:
            raise FileSystemError(errno.ENOENT, path)
        if inode.is_directory:
            raise FileSystemError(errno.EISDIR, path)
        del parent.entries[name]
        parent.touch()

    def rmdir(self, path: str) -> None:
        parent, name = self._parent(path)
        inode = parent.entries.get(name)
        if inode is None:
            raise FileSystemError(errno.ENOENT, path)
        if not inode.is_directory:
            raise FileSystemError(errno.ENOTDIR, path)
        if inode.entries:
            raise FileSystemError(errno.ENOTEMPTY, path)
        del parent.entries[name]
        parent.touch()

    def rename(self, old: str, new: str) -> None:
        old_parent, old_name = self._parent(old)
        new_parent, new_name = self._parent(new)
        inode = old_parent.entries.get(old_name)
        if inode is None:
            raise FileSystemError(errno.ENOENT, old)
        target = new_parent.entries.get(new_name)
        if target is inode:
            return
        if target is not None:
            if target.is_directory and not inode.is_directory:
                raise FileSystemError(errno.EISDIR, new)
            if inode.is_directory and not target.is_directory:
                raise FileSystemError(errno.ENOTDIR, new)
            if target.is_directory and target.entries:
                raise FileSystemError(errno.ENOTEMPTY, new)
        if inode.is_directory and self._contains(inode, new_parent):
            raise FileSystemError(errno.EINVAL, new)
        del old_parent.entries[old_name]
        new_parent.entries[new_name] = inode
        old_parent.touch()
        new_parent.touch()

    def _contains(self, directory: Inode, candidate: Inode) -> bool:
        if directory is candidate:
            return True
        return any(child.is_directory and self._contains(child, candidate) for child in directory.entries.values())

    # Handles

    def open_handle(self, inode: Inode) -> int:
        handle = self.next_handle
        self.next_handle += 1
        self.handles[handle] = inode
        return handle

    def handle(self, handle: int) -> Inode:
        inode = self.handles.get(handle)
        if inode is None:
            # A handle from before a cut: the process that held it is gone.
            raise FileSystemError(errno.EBADF, f"handle {handle}")
        return inode

    def close_handle(self, handle: int) -> None:
        self.handles.pop(handle, None)

    # Data

    def read(self, inode: Inode, offset: int, size: int) -> bytes:
        return bytes(inode.data[offset:offset + size])

    def write(self, inode: Inode, offset: int, data: bytes) -> int:
        if inode.is_directory:
            raise FileSystemError(errno.EISDIR)
        op = ("write", offset, bytes(data))
        _apply(inode.data, op)
        inode.pending.append(op)
        inode.touch()
        self.counts["writes"] += 1
        self.counts["bytes_written"] += len(data)
        return len(data)

    def truncate(self, inode: Inode, size: int) -> None:
        if inode.is_directory:
            raise FileSystemError(errno.EISDIR)
        op = ("truncate", size)
        _apply(inode.data, op)
        inode.pending.append(op)
        inode.touch()

    # Durability

    def sync_file(self, inode: Inode) -> None:
        """fsync or fdatasync of a file: its bytes and size reach the disk (its names do not)."""
        if inode.is_directory:
            self.sync_directory(inode)
            return
        for op in inode.pending:
            _apply(inode.durable_data, op)
        inode.pending.clear()
        self.counts["file_syncs"] += 1

    def sync_directory(self, inode: Inode) -> None:
        """fsync of a directory: its names, as they are now, reach the disk."""
        inode.durable_entries = dict(inode.entries)
        self.counts["directory_syncs"] += 1

    def unsynced_bytes(self) -> int:
        return sum(len(op[2]) for inode in self._all_inodes() if not inode.is_directory
                   for op in inode.pending if op[0] == "write")

    def _all_inodes(self) -> list[Inode]:
        """Every inode still reachable: through current names, durable names or an open handle."""
        seen: dict[int, Inode] = {}
        stack = [self.root, *self.handles.values()]
        while stack:
            inode = stack.pop()
            if inode.number in seen:
                continue
            seen[inode.number] = inode
            if inode.is_directory:
                stack.extend(inode.entries.values())
                stack.extend(inode.durable_entries.values())
        return list(seen.values())

    # The power

    def arm(self, changes: int, mode: str, rng: random.Random) -> None:
        """The power goes during the `changes`-th change from now (1: the next one). That change is in flight:
        it may partly survive, and it fails with EIO, as does every call after it until `cut()`."""
        self._check_mode(mode)
        if changes < 1:
            raise ValueError("the power goes during a change: changes must be at least 1")
        self.armed = (changes, mode, rng)

    def refuse_if_off(self) -> None:
        if self.off is not None:
            raise FileSystemError(errno.EIO, "the power is off")

    def count_change(self) -> bool:
        """Called after each change; True when the power went during it (the caller answers EIO)."""
        if self.armed is None:
            return False
        changes, mode, rng = self.armed
        if changes > 1:
            self.armed = (changes - 1, mode, rng)
            return False
        self.armed = None
        self.off = self._lose_unsynced(mode, rng)
        return True

    def cut(self, mode: str, rng: random.Random) -> CutReport:
        """The power cut, or its end when an armed cut already came: the processes that used the file system
        are dead, their handles go, and the power comes back with only what the disk held."""
        self._check_mode(mode)
        report = self.off or self._lose_unsynced(mode, rng)
        before = {inode.number for inode in self._all_inodes()}
        self.handles.clear()
        report.inodes_forgotten = len(before - {inode.number for inode in self._all_inodes()})
        self.off = None
        self.armed = None
        self.counts["cuts"] += 1
        return report

    def _check_mode(self, mode: str) -> None:
        if mode not in self.CUT_MODES:
            raise ValueError(f"cut mode {mode!r}: expected one of {', '.join(self.CUT_MODES)}")

    def _lose_unsynced(self, mode: str, rng: random.Random) -> CutReport:
        """Every inode's current state becomes what the disk holds, with what `mode` keeps of the unsynced."""
        report = CutReport(mode)
        for inode in sorted(self._all_inodes(), key=lambda i: i.number):  # sorted: the same seed, the same cut
            if inode.is_directory:
                if inode.entries != inode.durable_entries:
                    if mode == "scatter" and rng.random() < 0.5:
                        inode.durable_entries = dict(inode.entries)
                        report.directories_kept += 1
                    else:
                        report.directories_reverted += 1
                inode.entries = dict(inode.durable_entries)
                continue
            if inode.pending:
                report.files_with_unsynced_data += 1
                unsynced = sum(len(op[2]) for op in inode.pending if op[0] == "write")
                kept = 0
                for op in self._surviving(inode.pending, mode, rng):
                    _apply(inode.durable_data, op)
                    kept += len(op[2]) if op[0] == "write" else 0
                report.bytes_kept += kept
                report.bytes_dropped += unsynced - kept
                inode.pending = []
            inode.data = bytearray(inode.durable_data)
        return report

    @staticmethod
    def _surviving(pending: list[tuple], mode: str, rng: random.Random) -> list[tuple]:
        """The part of a file's unsynced writes and truncates that reached the disk before the power went."""
        if mode == "drop":
            return []
        if mode == "tear":
            whole = rng.randrange(len(pending) + 1)
            kept = list(pending[:whole])
            if whole < len(pending) and pending[whole][0] == "write":
                _, offset, data = pending[whole]
                kept.append(("write", offset, data[:rng.randrange(len(data) + 1)]))
            return kept
        kept = []
        for op in pending:
            if op[0] != "write":
                if rng.random() < 0.5:
                    kept.append(op)
                continue
            _, offset, data = op
            start = 0
            while start < len(data):
                end = min(len(data), (offset + start) // PAGE * PAGE + PAGE - offset)
                if rng.random() < 0.5:
                    kept.append(("write", offset + start, data[start:end]))
                start = end
        return kept
