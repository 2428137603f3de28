"""Mounting the power-cut file system and talking to it: start, wait until mounted, cut, unmount."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class MountFailed(RuntimeError):
    """FUSE could not be mounted here; the message says why."""


class PowerCutMount:
    def __init__(self, workdir: str, python: str = sys.executable):
        self.mountpoint = os.path.join(workdir, "mnt")
        self.control_path = os.path.join(workdir, "control.sock")
        self.log_path = os.path.join(workdir, "powercutfs.log")
        os.makedirs(self.mountpoint, exist_ok=True)
        self.python = python
        self.process: subprocess.Popen | None = None

    def mount(self, deadline_seconds: float = 20) -> None:
        if not os.path.exists("/dev/fuse"):
            raise MountFailed("/dev/fuse does not exist (no FUSE in this kernel or container)")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [self.python, os.path.join(HERE, "powercutfs.py"), self.mountpoint, "--control", self.control_path],
                stdout=log, stderr=subprocess.STDOUT, cwd=HERE)
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise MountFailed(f"powercutfs exited with status {self.process.returncode}: {self.log_tail()}")
            if os.path.ismount(self.mountpoint) and os.path.exists(self.control_path):
                try:
                    self.command("ping")
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        raise MountFailed(f"powercutfs did not mount {self.mountpoint} within {deadline_seconds:g} s: {self.log_tail()}")

    def command(self, line: str) -> dict:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(120)
            connection.connect(self.control_path)
            with connection.makefile("rw", encoding="utf-8") as stream:
                stream.write(line + "\n")
                stream.flush()
                answer = json.loads(stream.readline())
        if not answer.get("ok"):
            raise RuntimeError(f"powercutfs refused {line!r}: {answer.get('error')}")
        return answer

    def arm(self, changes: int, mode: str, seed: int) -> None:
        """The power goes during the `changes`-th change to the file system from now (see powercutfs.py)."""
        self.command(f"arm {changes} {mode} {seed}")

    def wait_off(self, seconds: float) -> bool:
        """Waits until an armed power cut came; False when it did not within `seconds`."""
        return self.command(f"wait-off {seconds}")["off"]

    def cut(self, mode: str, seed: int) -> dict:
        """The power cut (or the end of an armed one that came): every process using the mount must have been
        killed and reaped first."""
        return self.command(f"cut {mode} {seed}")

    def stats(self) -> dict:
        return self.command("stats")

    def unmount(self) -> None:
        if self.process is None:
            return
        if os.path.ismount(self.mountpoint):
            subprocess.run(["umount", self.mountpoint], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            subprocess.run(["umount", "-l", self.mountpoint], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.process = None

    def log_tail(self, lines: int = 12) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as log:
                return " | ".join(log.read().strip().splitlines()[-lines:]) or "(nothing logged)"
        except OSError:
            return "(no log)"
