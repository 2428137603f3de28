"""The power-cut model without FUSE: what survives a cut, and what does not.

    python3 tests/powercut/test_durability.py
"""
import os
import random
import stat
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from durability import DurabilityModel, FileSystemError  # noqa: E402


def write_file(model, path, data, sync_file=True):
    inode = model.create(path, 0o644)
    model.write(inode, len(inode.data), data)
    if sync_file:
        model.sync_file(inode)
    return inode


class CutTests(unittest.TestCase):
    def setUp(self):
        self.model = DurabilityModel()
        self.rng = random.Random(7)

    def content(self, path):
        return bytes(self.model.lookup(path).data)

    def test_synced_bytes_and_names_survive_and_unsynced_bytes_do_not(self):
        inode = write_file(self.model, "/log", b"acknowledged")
        self.model.sync_directory(self.model.root)
        self.model.write(inode, len(inode.data), b" in flight")
        self.assertEqual(self.content("/log"), b"acknowledged in flight")
        self.model.cut("drop", self.rng)
        self.assertEqual(self.content("/log"), b"acknowledged")

    def test_a_synced_file_in_an_unsynced_directory_is_gone(self):
        write_file(self.model, "/orphan", b"synced data, no durable name")
        self.model.cut("drop", self.rng)
        with self.assertRaises(FileSystemError):
            self.model.lookup("/orphan")

    def test_a_named_file_whose_data_was_never_synced_is_empty(self):
        write_file(self.model, "/idx", b"never synced", sync_file=False)
        self.model.sync_directory(self.model.root)
        self.model.cut("drop", self.rng)
        self.assertEqual(self.content("/idx"), b"")

    def test_rename_and_unlink_revert_until_the_directory_is_synced(self):
        write_file(self.model, "/a.tmp", b"segment")
        write_file(self.model, "/old", b"old")
        self.model.sync_directory(self.model.root)
        self.model.rename("/a.tmp", "/a")
        self.model.unlink("/old")
        self.model.cut("drop", self.rng)
        self.assertEqual(sorted(self.model.root.entries), ["a.tmp", "old"])
        self.assertEqual(self.content("/old"), b"old")
        self.model.rename("/a.tmp", "/a")
        self.model.sync_directory(self.model.root)
        self.model.cut("drop", self.rng)
        self.assertEqual(sorted(self.model.root.entries), ["a", "old"])

    def test_a_new_directory_needs_its_parent_synced(self):
        self.model.mkdir("/log", 0o755)
        write_file(self.model, "/log/segment", b"batch")
        self.model.sync_directory(self.model.lookup("/log"))
        self.model.cut("drop", self.rng)
        with self.assertRaises(FileSystemError):
            self.model.lookup("/log")
        self.model.mkdir("/log", 0o755)
        write_file(self.model, "/log/segment", b"batch")
        self.model.sync_directory(self.model.lookup("/log"))
        self.model.sync_directory(self.model.root)
        self.model.cut("drop", self.rng)
        self.assertEqual(self.content("/log/segment"), b"batch")

    def test_tear_keeps_a_prefix_of_the_unsynced_writes(self):
        inode = write_file(self.model, "/log", b"synced|")
        self.model.sync_directory(self.model.root)
        unsynced = b"0123456789" * 50
        self.model.write(inode, 7, unsynced)
        lengths = set()
        for seed in range(40):
            model_copy = DurabilityModel()
            copy = write_file(model_copy, "/log", b"synced|")
            model_copy.sync_directory(model_copy.root)
            model_copy.write(copy, 7, unsynced)
            model_copy.cut("tear", random.Random(seed))
            after = bytes(model_copy.lookup("/log").data)
            self.assertTrue(after.startswith(b"synced|"))
            self.assertEqual(after[7:], unsynced[:len(after) - 7], "a prefix, nothing else")
            lengths.add(len(after))
        self.assertGreater(len(lengths), 5, "tears at many places")

    def test_scatter_keeps_pages_and_zero_fills_the_holes(self):
        zero_holes = 0
        for seed in range(20):
            model = DurabilityModel()
            inode = write_file(model, "/log", b"")
            model.sync_directory(model.root)
            model.write(inode, 0, b"\xff" * (4096 * 6))
            model.cut("scatter", random.Random(seed))
            after = bytes(model.lookup("/log").data)
            pages = [after[i:i + 4096] for i in range(0, len(after), 4096)]
            self.assertTrue(all(page in (b"\xff" * 4096, b"\0" * 4096) for page in pages), "whole pages or zeros")
            zero_holes += sum(page == b"\0" * 4096 for page in pages)
        self.assertGreater(zero_holes, 0)

    def test_truncate_is_durable_only_after_a_sync(self):
        inode = write_file(self.model, "/log", b"good batch|torn")
        self.model.sync_directory(self.model.root)
        self.model.truncate(inode, 11)
        self.model.cut("drop", self.rng)
        self.assertEqual(self.content("/log"), b"good batch|torn")
        inode = self.model.lookup("/log")
        self.model.truncate(inode, 11)
        self.model.sync_file(inode)
        self.model.cut("drop", self.rng)
        self.assertEqual(self.content("/log"), b"good batch|")

    def test_handles_do_not_survive_a_cut(self):
        inode = write_file(self.model, "/log", b"x")
        handle = self.model.open_handle(inode)
        self.model.cut("drop", self.rng)
        with self.assertRaises(FileSystemError):
            self.model.handle(handle)

    def test_an_armed_cut_comes_during_the_nth_change_and_the_disk_answers_nothing_after(self):
        inode = write_file(self.model, "/log", b"synced|")
        self.model.sync_directory(self.model.root)
        self.model.arm(2, "drop", self.rng)
        self.model.write(inode, 7, b"first, unsynced")
        self.assertFalse(self.model.count_change())
        self.model.write(inode, 22, b"second, in flight")
        self.assertTrue(self.model.count_change(), "the power goes during the second change")
        with self.assertRaises(FileSystemError):
            self.model.refuse_if_off()
        self.assertEqual(self.content("/log"), b"synced|")
        report = self.model.cut("drop", self.rng)
        self.assertEqual(report.bytes_dropped, len(b"first, unsynced") + len(b"second, in flight"))
        self.model.refuse_if_off()  # on again
        self.assertEqual(self.content("/log"), b"synced|")

    def test_names_and_errors(self):
        self.model.mkdir("/d", 0o755)
        write_file(self.model, "/d/f", b"x")
        with self.assertRaises(FileSystemError):
            self.model.rmdir("/d")
        with self.assertRaises(FileSystemError):
            self.model.create("/d/f", 0o644, exclusive=True)
        with self.assertRaises(FileSystemError):
            self.model.rename("/d", "/d/f/inside")
        self.assertTrue(stat.S_ISDIR(self.model.lookup("/d").mode))
        self.assertEqual(self.model.link_count(self.model.root), 3)


if __name__ == "__main__":
    unittest.main()
