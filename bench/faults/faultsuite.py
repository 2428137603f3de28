#!/usr/bin/env python3
"""Rananeeti's fault-injection suite: crashes, database outages and hangs, a full disk, clock jumps and
hostile input against release builds of `rananeeti serve`, with nothing lost.

Two nodes (`a` on the ordinary disk, `b` on a small tmpfs) take reservations, and a staff member's
cancellations (a bearer token from the local OpenID provider, tests/oidc), from a bounded load generator
while a seeded scheduler kills them with SIGKILL (and stops them with SIGTERM), stops, freezes and cuts off
their PostgreSQL, fills node b's disk, and jumps their logs' clocks. Then everything is healed, the projectors
drain, and the suite checks that every acknowledged reservation is in `cafe.ordersraw` exactly once and every
acknowledged cancellation in `cafe.cancellations`, that nothing there was invented, that every log verifies,
and that no request waited past its deadline. It ends with one line of figures.

    bench/faults/run --short               # a few minutes; what scripts/test runs
    bench/faults/run --full                # >= 50 kills, >= 10 database outages
    bench/faults/run --short --seed 1234   # replay a run's schedule

See bench/faults/README.md and docs/RELIABILITY.md. Standard library only (and tests/lib/reservations.py); the
provider runs from .build-oidc-venv (tests/oidc/setup.sh, which scripts/install-system-packages runs).
"""

from __future__ import annotations

import argparse
import base64
import calendar
import collections
import dataclasses
import errno
import http.client
import json
import os
import random
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

PG_BIN = "/usr/lib/postgresql/15/bin"
IS_ROOT = os.geteuid() == 0


def log(message: str) -> None:
    """Progress on standard error; the figure line alone goes to standard output."""
    print(f"[faults {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The digest (DESIGN.md) and the reservations the load sends come from tests/lib/reservations.py, shared with
# the power-cut tests.
sys.path.insert(0, os.path.join(REPOSITORY, "tests", "lib"))
from reservations import NAMES, NOTE_TAILS, Reservation  # noqa: E402


# MARK: - A private PostgreSQL


class PrivatePostgres:
    """PostgreSQL 15 in its own temporary directory on a free loopback port, run as `postgres` when we are
    root (initdb refuses root). `setpriv` execs the server, so `process.pid` is the postmaster itself."""

    def __init__(self, workdir: str):
        self.directory = tempfile.mkdtemp(prefix="rananeeti-faults-pg-", dir=workdir)
        self.data = os.path.join(self.directory, "data")
        self.log_path = os.path.join(self.directory, "server.log")
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.frozen = False
        if IS_ROOT:
            shutil.chown(self.directory, "postgres", "postgres")
            os.chmod(workdir, 0o755)
        self._as_server_user([f"{PG_BIN}/initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--no-sync",
                              "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"])

    def _as_server_user(self, argv: list[str]) -> None:
        if IS_ROOT:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {result.stdout}")

    def connection_string(self, port: int | None = None) -> str:
        return f"host=127.0.0.1 port={port or self.port} user=postgres dbname=postgres"

    def start(self) -> None:
        argv = [f"{PG_BIN}/postgres", "-D", self.data, "-h", "127.0.0.1", "-p", str(self.port), "-k", self.directory,
                "-c", "max_connections=100", "-c", "log_min_messages=warning"]
        if IS_ROOT:
            argv = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"] + argv
        with open(self.log_path, "ab") as output:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited with {self.process.returncode}; see {self.log_path}")
            ready = subprocess.run([f"{PG_BIN}/pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)])
            if ready.returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError(f"PostgreSQL did not start within 60 s; see {self.log_path}")

    def descendants(self) -> list[int]:
        if not self.process:
            return []
        children: dict[int, list[int]] = collections.defaultdict(list)
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2:].split()
            children[int(fields[1])].append(int(entry))
        found, queue = [], [self.process.pid]
        while queue:
            for child in children.get(queue.pop(), []):
                found.append(child)
                queue.append(child)
        return found

    def freeze(self) -> None:
        """SIGSTOP to the postmaster first (so it forks nothing new), then to every child: a hung host."""
        os.kill(self.process.pid, signal.SIGSTOP)
        for pid in self.descendants():
            _signal_quietly(pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        for pid in self.descendants():
            _signal_quietly(pid, signal.SIGCONT)
        os.kill(self.process.pid, signal.SIGCONT)
        self.frozen = False

    def stop_immediate(self) -> None:
        """`pg_ctl stop -m immediate`: SIGQUIT, every process quits at once; the next start runs recovery."""
        if not self.process:
            return
        if self.frozen:
            self.thaw()
        os.kill(self.process.pid, signal.SIGQUIT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            for pid in self.descendants():
                _signal_quietly(pid, signal.SIGKILL)
            self.process.kill()
            self.process.wait()
        deadline = time.monotonic() + 30
        while os.path.exists(os.path.join(self.data, "postmaster.pid")) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.process = None

    def psql(self, sql: str) -> list[list[str]]:
        """Rows of `sql`, tab-separated fields (no value here contains a tab or a newline... except notes,
        which are selected encoded)."""
        result = subprocess.run(
            ["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", self.connection_string(), "-c", sql],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return [line.split("\t") for line in result.stdout.splitlines() if line]


def _signal_quietly(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


# MARK: - A TCP proxy that can black-hole or refuse


class TCPProxy:
    """Forwards 127.0.0.1:port to a target. Modes: `forward`; `blackhole` (connections are accepted and
    kept, no byte moves either way: a network path that silently drops everything); `refuse` (new
    connections and open ones are reset)."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(256)
        self.port = self.listener.getsockname()[1]
        self.mode = "forward"
        self.condition = threading.Condition()
        self.connections: set[socket.socket] = set()
        self.closed = False
        threading.Thread(target=self._accept_loop, name="proxy-accept", daemon=True).start()

    def set_mode(self, mode: str) -> None:
        with self.condition:
            self.mode = mode
            if mode == "refuse":
                for connection in list(self.connections):
                    _reset(connection)
                self.connections.clear()
            self.condition.notify_all()

    def close(self) -> None:
        self.closed = True
        self.set_mode("refuse")
        self.listener.close()

    def _accept_loop(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.condition:
                if self.mode == "refuse":
                    _reset(client)
                    continue
                self.connections.add(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _wait_forwarding(self, sock: socket.socket) -> bool:
        with self.condition:
            while self.mode == "blackhole" and sock in self.connections:
                self.condition.wait(0.2)
            return self.mode == "forward" and sock in self.connections

    def _serve(self, client: socket.socket) -> None:
        # A connection that arrives during a black hole is held; it reaches the server once the path heals.
        if not self._wait_forwarding(client):
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            upstream.settimeout(None)
        except OSError:
            _reset(client)
            self._forget(client)
            return
        with self.condition:
            self.connections.add(upstream)
        pumps = [threading.Thread(target=self._pump, args=(client, upstream), daemon=True),
                 threading.Thread(target=self._pump, args=(upstream, client), daemon=True)]
        for pump in pumps:
            pump.start()
        for pump in pumps:
            pump.join()
        for sock in (client, upstream):
            self._forget(sock)
            try:
                sock.close()
            except OSError:
                pass

    def _forget(self, sock: socket.socket) -> None:
        with self.condition:
            self.connections.discard(sock)

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            self._pump_until_closed(source, target)
        except (OSError, ValueError):  # a socket closed under us by `refuse` or by the other pump
            pass

    def _pump_until_closed(self, source: socket.socket, target: socket.socket) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(source, selectors.EVENT_READ)
            while True:
                if not self._wait_forwarding(source) or target not in self.connections:
                    return
                if not selector.select(0.1):
                    continue
                # Re-check: the mode may have turned while we waited; a black hole reads nothing.
                if not self._wait_forwarding(source):
                    return
                try:
                    data = source.recv(65536)
                except (OSError, ValueError):  # reset by `refuse` meanwhile
                    data = b""
                if not data:
                    try:
                        target.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    return
                try:
                    target.sendall(data)
                except OSError:
                    return


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a refused or broken path does."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
    except OSError:
        pass


# MARK: - The local OpenID Connect provider


class OIDCProvider:
    """tests/oidc/provider.py (Authlib) as its own process on a free loopback port, with the demo users of
    tests/oidc/demo-users.json (user "staff" is in group "staff") and its test controls, which mint a staff
    member's tokens as a sign-in would give them. Every node signs people in with it; the load cancels with
    the staff member's bearer access token. It is never faulted: the suite's faults are the nodes' and the
    database's."""

    CLIENT_ID = "rananeeti-faults"

    def __init__(self, workdir: str, redirect_urls: list[str]):
        self.directory = os.path.join(workdir, "oidc")
        os.mkdir(self.directory)
        self.secret_file = os.path.join(self.directory, "client-secret")
        descriptor = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as f:
            f.write(os.urandom(16).hex())
        self.log_path = os.path.join(self.directory, "oidc.log")
        self.redirect_urls = redirect_urls
        self.process: subprocess.Popen | None = None
        self.issuer = ""
        self.token_lock = threading.Lock()
        self.token: tuple[str, float] | None = None

    def start(self, deadline_seconds: float = 30) -> None:
        python = os.path.join(REPOSITORY, ".build-oidc-venv", "bin", "python")
        if not os.access(python, os.X_OK):
            raise RuntimeError(f"{python} is missing: run tests/oidc/setup.sh (scripts/install-system-packages does)")
        port_file = os.path.join(self.directory, "oidc-port")
        argv = ["setpriv", "--pdeathsig", "KILL", "--", python, os.path.join(REPOSITORY, "tests", "oidc", "provider.py"),
                "--port-file", port_file, "--client-id", self.CLIENT_ID, "--client-secret-file", self.secret_file,
                "--users", os.path.join(REPOSITORY, "tests", "oidc", "demo-users.json"), "--test-controls"]
        for url in self.redirect_urls:
            argv += ["--redirect-uri", url]
        with open(self.log_path, "ab") as output:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)
        # The provider writes its port (atomically) once it listens and its application is built.
        started = time.monotonic()
        while not os.path.exists(port_file):
            if self.process.poll() is not None or time.monotonic() - started > deadline_seconds:
                with open(self.log_path, errors="replace") as f:
                    raise RuntimeError(f"the local OpenID provider did not start; its log:\n{f.read()[-2000:]}")
            time.sleep(0.05)
        with open(port_file) as f:
            self.port = int(f.read().strip())
        self.issuer = f"http://127.0.0.1:{self.port}"
        status, _, body = http_request(self.port, "GET", "/.well-known/openid-configuration", timeout=10)
        if status != 200 or json.loads(body).get("issuer") != self.issuer:
            raise RuntimeError(f"the local OpenID provider's discovery document answered {status}: {body[:300]!r}")

    def serve_options(self, redirect_url: str) -> list[str]:
        """`rananeeti serve`'s options that sign people in with this provider (staff: group "staff"); guests
        may still book without signing in, as the load does."""
        return ["--oidc-issuer", self.issuer, "--oidc-client-id", self.CLIENT_ID,
                "--oidc-client-secret-file", self.secret_file, "--oidc-redirect-url", redirect_url,
                "--staff-claim", "groups=staff", "--no-require-sign-in"]

    # The provider's tokens live an hour; a fresh one well before that, for runs longer than the default.
    TOKEN_REUSE_SECONDS = 1200

    def staff_token(self) -> str:
        """The staff member's bearer access token, minted again once it is TOKEN_REUSE_SECONDS old."""
        with self.token_lock:
            if self.token is None or time.monotonic() - self.token[1] > self.TOKEN_REUSE_SECONDS:
                self.token = (self.access_token("staff"), time.monotonic())
            return self.token[0]

    def access_token(self, username: str) -> str:
        """A bearer access token (a JWT the nodes check against the provider's keys) for a demo user."""
        status, _, body = http_request(self.port, "POST", "/control/tokens", json.dumps({"username": username}).encode(),
                                       {"Content-Type": "application/json"}, timeout=10)
        if status != 200:
            raise RuntimeError(f"the provider's /control/tokens answered {status}: {body[:300]!r}")
        return json.loads(body)["access_token"]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# MARK: - A node: `rananeeti serve` on its own data directory


class Node:
    def __init__(self, name: str, binary: str, workdir: str, data_dir: str, database: str, clock_jumps: bool,
                 segment_bytes: int, session_keys_file: str):
        self.name = name
        self.binary = binary
        self.data_dir = data_dir
        self.database = database
        # The public listener (guests, the API) and the operator listener (readiness details, the whole book),
        # each on a port of its own that stays the node's across restarts.
        self.port = free_port()
        self.operator_port = free_port()
        self.session_keys_file = session_keys_file
        self.sign_in_options: list[str] = []
        self.log_path = os.path.join(workdir, f"node-{name}.log")
        self.clock_file = os.path.join(workdir, f"clock-{name}")
        self.clock_jumps = clock_jumps
        self.segment_bytes = segment_bytes
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self.unexpected_exits: list[str] = []
        # Each time the node was up and answering: [since, until (None: still up), acknowledgements], monotonic.
        self.phases: list[list] = []
        self.phases_lock = threading.Lock()
        with open(self.clock_file, "w") as f:
            f.write("+0\n")

    def environment(self) -> dict[str, str]:
        environment = dict(os.environ)
        environment.pop("RANANEETI_DATABASE", None)
        environment["RANANEETI_LOG_LEVEL"] = "notice"
        # Test hooks of `serve` (Sources/rananeeti/TestHooks.swift): small segments, so that kills and full
        # disks meet segment rolls; and the log's clock is the real one plus the seconds in the clock file.
        environment["RANANEETI_SEGMENT_BYTES"] = str(self.segment_bytes)
        if self.clock_jumps:
            environment["RANANEETI_TEST_CLOCK_OFFSET_FILE"] = self.clock_file
        return environment

    @property
    def redirect_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/signin/callback"

    def start(self, deadline_seconds: float = 30) -> float:
        """Starts the server and waits until both its listeners answer /healthz and it has written the operator
        listener's address into its data directory; returns how long that took."""
        started = time.monotonic()
        # The nodes share their session keys (as nodes behind one load balancer must), so that a reservation's
        # private link opens it on every node.
        argv = ["setpriv", "--pdeathsig", "KILL", "--", self.binary, "serve",
                "--listen", f"127.0.0.1:{self.port}", "--operator-listen", f"127.0.0.1:{self.operator_port}",
                "--data-dir", self.data_dir, "--node-id", f"faults-{self.name}", "--database", self.database,
                "--session-keys-file", self.session_keys_file, *self.sign_in_options]
        with open(self.log_path, "ab") as output:
            output.write(f"\n==== start {self.starts + 1} at {time.strftime('%H:%M:%S')} ====\n".encode())
            output.flush()
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                            env=self.environment())
        self.starts += 1
        public_up = False
        while time.monotonic() - started < deadline_seconds:
            if self.process.poll() is not None:
                raise RuntimeError(f"node {self.name} exited with {self.process.returncode} while starting; "
                                   f"see {self.log_path}:\n{self.log_tail()}")
            try:
                if not public_up and http_request(self.port, "GET", "/healthz", timeout=1)[0] == 200:
                    public_up = True
                    with self.phases_lock:
                        self.phases.append([time.monotonic(), None, 0])
                if public_up and http_request(self.operator_port, "GET", "/healthz", timeout=1)[0] == 200 \
                        and self.recorded_operator_address() == f"127.0.0.1:{self.operator_port}":
                    return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"node {self.name} did not answer /healthz on both listeners (or did not record its "
                           f"operator listener's address) within {deadline_seconds} s; see {self.log_path}")

    def recorded_operator_address(self) -> str | None:
        """What serve wrote into DATA_DIR/operator-listen (HOST:PORT), or None before it has."""
        try:
            with open(os.path.join(self.data_dir, "operator-listen")) as f:
                return f.read().strip()
        except OSError:
            return None

    def kill(self) -> None:
        self._phase_ends()
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        if self.process:
            self.process.wait()

    def _phase_ends(self) -> None:
        with self.phases_lock:
            if self.phases and self.phases[-1][1] is None:
                self.phases[-1][1] = time.monotonic()

    def count_acknowledgement(self) -> None:
        with self.phases_lock:
            if self.phases and self.phases[-1][1] is None:
                self.phases[-1][2] += 1

    def stop_gracefully(self, timeout: float = 30) -> int:
        """SIGTERM: stop taking requests, finish those in flight, sync and close the log. Returns the status."""
        if not self.process:
            return 0
        self._phase_ends()
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return -1

    def check_alive(self) -> bool:
        """False (and recorded) when the server exited without being told to."""
        if self.process and self.process.poll() is not None:
            self._phase_ends()
            self.unexpected_exits.append(f"node {self.name} exited by itself with status {self.process.returncode}")
            self.process = None
            return False
        return True

    def set_clock_offset(self, seconds: int) -> None:
        with open(self.clock_file + ".tmp", "w") as f:
            f.write(f"{seconds:+d}\n")
        os.replace(self.clock_file + ".tmp", self.clock_file)

    def log_tail(self, lines: int = 15) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


def http_request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                 timeout: float = 5, connection: http.client.HTTPConnection | None = None):
    """One request on a fresh connection (or `connection`); returns (status, headers, body)."""
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        return response.status, dict((k.lower(), v) for k, v in response.getheaders()), data
    finally:
        if own:
            connection.close()


# MARK: - What the load generator saw


class Ledger:
    """Every reservation sent and acknowledged, every answer, every wait."""

    def __init__(self, deadline: float):
        self.lock = threading.Lock()
        self.deadline = deadline
        self.sent: dict[str, Reservation] = {}
        self.acknowledged: dict[str, set[str]] = collections.defaultdict(set)
        self.acknowledged_order: list[str] = []  # the same digests, in the order first acknowledged
        self.statuses: collections.Counter = collections.Counter()
        self.requests = 0
        self.posts = 0          # reservations posted (each with up to six attempts)
        self.given_up = 0       # posts whose six attempts all ended in a connection error
        self.longest_wait = 0.0
        self.longest_wait_what = ""
        self.deadline_violations = 0
        self.failures: list[str] = []
        self.failure_count = 0
        self.hostile = 0
        self.full_disk_refusals = 0
        self.reads_checked = 0
        # Private links: the token each reservation's acknowledgement carried (the same from every node).
        self.tokens: dict[str, str] = {}
        # Cancellations: digest -> the reason sent (every one attempted), and the nodes that acknowledged it (200).
        self.cancel_sent: dict[str, str] = {}
        self.cancelled: dict[str, set[str]] = collections.defaultdict(set)
        # digest -> the node that acknowledged its cancellation when no other node can have taken it first: that
        # node appended it itself (any other 200 may come from the database: "already cancelled").
        self.cancel_taken_by: dict[str, str] = {}
        self.cancel_given_up = 0
        # Re-posts of exactly a cancelled reservation, refused with 409 as they must be.
        self.reposts_refused = 0
        # node -> list of (start, end) monotonic windows in which its disk is full (end None: still full)
        self.full_windows: dict[str, list[list[float | None]]] = collections.defaultdict(list)
        # node -> when the last request that appended (201) was sent
        self.last_append_at: collections.defaultdict = collections.defaultdict(float)

    def fail(self, message: str) -> None:
        with self.lock:
            self.failure_count += 1
            if len(self.failures) < 30:
                self.failures.append(message)

    def timed(self, what: str, started: float, timed_out: bool = False) -> None:
        waited = time.monotonic() - started
        with self.lock:
            self.requests += 1
            if waited > self.longest_wait:
                self.longest_wait, self.longest_wait_what = waited, what
            if timed_out or waited > self.deadline:
                self.deadline_violations += 1
                if len(self.failures) < 30:
                    self.failures.append(f"{what} waited {waited:.2f} s (deadline {self.deadline} s)")
                self.failure_count += 1

    def disk_full(self, node: str, at: float, grace: float = 1.0) -> bool:
        """Whether node's disk was full at `at` (or within `grace` seconds of a window's edges)."""
        with self.lock:
            for start, end in self.full_windows.get(node, []):
                if start - grace <= at and (end is None or at <= end + grace):
                    return True
        return False


# MARK: - The load generator


class LoadGenerator:
    """N workers post reservations (unique notes, some exact repeats, a few with "test database failures"
    ticked) to random nodes, read back their own through their private links, cancel a few of them as the
    cafe's staff (a bearer token) and book a few cancelled ones again (refused); one more sends hostile input.
    Every attempt is timed against the client deadline; a failed attempt is retried a few times, as a browser
    or an app would."""

    # What a worker does next, by the share of its turns (the rest: a new reservation).
    LIST, READ_BACK, REPEAT, CANCEL, REBOOK_CANCELLED = 0.01, 0.08, 0.13, 0.15, 0.155
    CANCEL_REASONS = ["plans changed", "", "le chef est malade — désolé", "🌧 rain", "two of us are ill, sorry 🤒"]

    def __init__(self, nodes: list[Node], ledger: Ledger, seed: int, workers: int, run_id: str,
                 maximum_requests: int, provider: OIDCProvider):
        self.nodes = nodes
        self.ledger = ledger
        self.seed = seed
        self.workers = workers
        self.run_id = run_id
        self.maximum_requests = maximum_requests
        self.provider = provider
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(self.workers):
            self.threads.append(threading.Thread(target=self._worker, args=(index,), name=f"load-{index}", daemon=True))
        self.threads.append(threading.Thread(target=self._hostile, name="hostile", daemon=True))
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _node_by_name(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def _worker(self, index: int) -> None:
        rng = random.Random(self.seed * 1_000_003 + index)
        connections: dict[str, http.client.HTTPConnection] = {}
        mine: list[tuple[Reservation, str]] = []  # (reservation, node that acknowledged it), none cancelled
        # (reservation, node that acknowledged its cancellation and knows it itself, whether that node holds the
        # reservation too)
        cancelled: list[tuple[Reservation, str, bool]] = []
        number = 0
        while not self.stopping.is_set() and self.ledger.requests < self.maximum_requests:
            roll = rng.random()
            if roll < self.LIST:
                self._list(rng, connections)
                continue
            if roll < self.READ_BACK and mine:
                readable = [entry for entry in cancelled if entry[2]]
                if readable and rng.random() < 0.1:
                    reservation, node_name, _ = rng.choice(readable)
                    self._read_back(rng, connections, reservation, node_name, cancelled=True)
                else:
                    reservation, node_name = rng.choice(mine)
                    self._read_back(rng, connections, reservation, node_name, cancelled=False)
                continue
            if self.REPEAT <= roll < self.CANCEL and mine:
                # The staff cancel one of this guest's reservations; it is never sent again as a repeat (an
                # acknowledged repeat made it more than one entry here).
                reservation, _ = rng.choice(mine)
                mine[:] = [entry for entry in mine if entry[0] != reservation]
                outcome = self._cancel(rng, connections, reservation)
                if outcome:
                    cancelled.append((reservation, *outcome))
                    if len(cancelled) > 200:
                        cancelled.pop(rng.randrange(len(cancelled)))
                continue
            if self.CANCEL <= roll < self.REBOOK_CANCELLED and cancelled:
                reservation, node_name, _ = rng.choice(cancelled)
                self._rebook_cancelled(connections, reservation, node_name)
                continue
            if roll < self.REPEAT and mine:
                reservation = rng.choice(mine)[0]  # an exact repeat: a double click, a retried request
            else:
                number += 1
                notes = f"{self.run_id} w{index} #{number}{rng.choice(NOTE_TAILS)}"
                reservation = Reservation(
                    name=rng.choice(NAMES), people=rng.randint(1, 12),
                    date_time=f"20{rng.randint(27, 30)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
                              f"{rng.randint(8, 22):02d}:{rng.choice(['00', '15', '30', '45'])}",
                    # A few guests tick "test database failures": the projector fails their batch on purpose
                    # three times (a second each) before it writes it. Few, or the drain would take minutes.
                    notes=notes, test_failures=index < 4 and number == 50)
            node = self._post(rng, connections, reservation)
            if node:
                mine.append((reservation, node))
                if len(mine) > 500:
                    mine.pop(rng.randrange(len(mine)))
        for connection in connections.values():
            connection.close()

    def _connection(self, connections: dict, node: Node, operator: bool = False) -> http.client.HTTPConnection:
        key = (node.name, operator)
        if key not in connections:
            connections[key] = http.client.HTTPConnection(
                "127.0.0.1", node.operator_port if operator else node.port, timeout=self.ledger.deadline)
        return connections[key]

    def _link_token(self, node: Node, digest: str, location: str, expected_path: str) -> str | None:
        """The private link's token from an acknowledgement's Location (`PATH?token=T`), or None (a failure)."""
        parts = urllib.parse.urlsplit(location)
        tokens = urllib.parse.parse_qs(parts.query).get("token", [])
        if parts.path != expected_path or len(tokens) != 1 or len(tokens[0]) != 22:
            self.ledger.fail(f"node {node.name} acknowledged {digest} with Location {location!r}, not "
                             f"{expected_path}?token=… (a private link)")
            return None
        return tokens[0]

    def _acknowledged(self, node: Node, digest: str, token: str) -> bool:
        """Records an acknowledgement and its private link; every node must give a reservation the same link
        (they share their session keys)."""
        with self.ledger.lock:
            known = self.ledger.tokens.setdefault(digest, token)
        if known != token:
            self.ledger.fail(f"node {node.name} gave {digest} the private link token {token}, another answer "
                             f"gave {known}: the nodes share their session keys")
            return False
        node.count_acknowledgement()
        with self.ledger.lock:
            if digest not in self.ledger.acknowledged:
                self.ledger.acknowledged_order.append(digest)
            self.ledger.acknowledged[digest].add(node.name)
        return True

    def _post(self, rng: random.Random, connections: dict, reservation: Reservation) -> str | None:
        """Posts until acknowledged (at most 6 attempts); returns the acknowledging node's name."""
        digest = reservation.digest
        # Most reservations come through the API; one in ten through the site's form (303 to its page).
        through_form = rng.random() < 0.1
        path, body, content_type = (
            ("/order", reservation.form(), "application/x-www-form-urlencoded") if through_form
            else ("/api/v1/reservations", reservation.body(), "application/json"))
        with self.ledger.lock:
            self.ledger.sent[digest] = reservation
            self.ledger.posts += 1
        connection_errors = 0
        for attempt in range(6):
            if self.stopping.is_set():
                return None
            node = rng.choice(self.nodes)
            connection = self._connection(connections, node)
            started = time.monotonic()
            try:
                connection.request("POST", path, body=body, headers={"Content-Type": content_type})
                response = connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as error:
                timed_out = isinstance(error, TimeoutError) or isinstance(error, socket.timeout)
                self.ledger.timed(f"POST to node {node.name}", started, timed_out)
                connection.close()
                with self.ledger.lock:
                    self.ledger.statuses[("post", "connection-error")] += 1
                connection_errors += 1
                time.sleep(min(1.0, 0.05 * 2 ** attempt) * rng.uniform(0.5, 1.0))
                continue
            self.ledger.timed(f"POST to node {node.name}", started)
            status = response.status
            with self.ledger.lock:
                self.ledger.statuses[("form" if through_form else "post", status)] += 1
            if through_form and status == 303:
                # The status page's private link: /orders/DIGEST?token=T.
                token = self._link_token(node, digest, response.getheader("Location", ""), f"/orders/{digest}")
                if token is None or not self._acknowledged(node, digest, token):
                    return None
                with self.ledger.lock:
                    # A 303 does not say whether this request appended; count it as one only when it was new.
                    self.ledger.last_append_at[node.name] = max(self.ledger.last_append_at[node.name], started)
                return node.name
            if not through_form and status in (200, 201):
                try:
                    answer = json.loads(data)
                except ValueError:
                    self.ledger.fail(f"POST {status} from node {node.name} with a body that is not JSON: {data[:200]!r}")
                    return None
                if answer.get("digest") != digest:
                    self.ledger.fail(f"node {node.name} answered digest {answer.get('digest')} for {digest} "
                                     f"({reservation})")
                    return None
                token = self._link_token(node, digest, response.getheader("Location", ""),
                                         f"/api/v1/reservations/{digest}")
                if token is None:
                    return None
                if answer.get("statusToken") != token:
                    self.ledger.fail(f"node {node.name} answered {digest} with statusToken {answer.get('statusToken')!r} "
                                     f"and the token {token} in its Location")
                    return None
                if not self._acknowledged(node, digest, token):
                    return None
                with self.ledger.lock:
                    if status == 201:
                        self.ledger.last_append_at[node.name] = max(self.ledger.last_append_at[node.name], started)
                return node.name
            if status == 503:
                headers = {k.lower(): v for k, v in response.getheaders()}
                if "retry-after" not in headers:
                    self.ledger.fail(f"node {node.name} answered 503 without Retry-After: {data[:300]!r}")
                elif self.ledger.disk_full(node.name, started):
                    with self.ledger.lock:
                        self.ledger.full_disk_refusals += 1
                else:
                    self.ledger.fail(f"node {node.name} answered 503 while its disk had room: {data[:300]!r}")
                time.sleep(0.05 * rng.uniform(0.5, 1.5))
                continue
            self.ledger.fail(f"POST to node {node.name} answered {status}: {data[:300]!r}")
            return None
        if connection_errors == 6:
            # A guest whose every try met a closed or reset connection: given up, never acknowledged.
            with self.ledger.lock:
                self.ledger.given_up += 1
        return None

    def _cancel(self, rng: random.Random, connections: dict, reservation: Reservation) -> tuple[str, bool] | None:
        """The cafe's staff cancel an acknowledged, upcoming reservation (`POST …/cancellation` with their bearer
        token) at a random node, retried through faults like a post (at most 6 attempts). Returns, when it was
        acknowledged (200) and the acknowledging node must know the cancellation itself, that node's name and
        whether it holds the reservation too; else None."""
        digest = reservation.digest
        reason = rng.choice(self.CANCEL_REASONS)
        with self.ledger.lock:
            self.ledger.cancel_sent[digest] = reason
        body = json.dumps({"reason": reason}, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.provider.staff_token()}"}
        # Nodes where an attempt may have appended the cancellation although its answer never came.
        unanswered: set[str] = set()
        connection_errors = 0
        for attempt in range(6):
            if self.stopping.is_set():
                return None
            node = rng.choice(self.nodes)
            connection = self._connection(connections, node)
            started = time.monotonic()
            try:
                connection.request("POST", f"/api/v1/reservations/{digest}/cancellation", body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as error:
                self.ledger.timed(f"cancellation at node {node.name}", started,
                                  isinstance(error, (TimeoutError, socket.timeout)))
                connection.close()
                with self.ledger.lock:
                    self.ledger.statuses[("cancel", "connection-error")] += 1
                connection_errors += 1
                unanswered.add(node.name)
                time.sleep(min(1.0, 0.05 * 2 ** attempt) * rng.uniform(0.5, 1.0))
                continue
            self.ledger.timed(f"cancellation at node {node.name}", started)
            status = response.status
            with self.ledger.lock:
                self.ledger.statuses[("cancel", status)] += 1
                holds = node.name in self.ledger.acknowledged[digest]
            try:
                answer = json.loads(data)
            except ValueError:
                answer = {}
            if status == 200:
                cancellation = answer.get("cancellation") or {}
                if (answer.get("digest") != digest or cancellation.get("by") != "staff"
                        or cancellation.get("reason") != reason):
                    self.ledger.fail(f"node {node.name} answered the cancellation of {digest} (reason {reason!r}) "
                                     f"with {data[:400]!r}")
                    return None
                # This node took the cancellation itself (and knows it without the database) unless another node
                # may have taken it first, whose answer never came: then this 200 may be the database's word.
                taken_here = not unanswered - {node.name}
                with self.ledger.lock:
                    self.ledger.cancelled[digest].add(node.name)
                    if taken_here:
                        self.ledger.cancel_taken_by[digest] = node.name
                return (node.name, holds) if taken_here else None
            problem = str(answer.get("type", ""))
            if status == 503:
                if "retry-after" not in {k.lower() for k, _ in response.getheaders()}:
                    self.ledger.fail(f"node {node.name} answered a cancellation 503 without Retry-After: {data[:300]!r}")
                elif self.ledger.disk_full(node.name, started):
                    with self.ledger.lock:
                        self.ledger.full_disk_refusals += 1
                elif holds or not problem.endswith("/reservation-not-found"):
                    self.ledger.fail(f"node {node.name} answered the cancellation of {digest} 503 while its disk had "
                                     f"room{' and it holds the reservation' if holds else ''}: {data[:300]!r}")
                    return None
                # Else: the node does not hold it and the database did not answer in time: another node may.
                time.sleep(0.05 * rng.uniform(0.5, 1.5))
                continue
            if status == 404 and not holds:
                # This node does not hold it, and the database does not have it yet (another node took it and
                # has not projected it): that node may; try again.
                time.sleep(0.05 * rng.uniform(0.5, 1.5))
                continue
            self.ledger.fail(f"the cancellation of {digest} at node {node.name} "
                             f"({'which holds it' if holds else 'which does not hold it'}) answered {status}: "
                             f"{data[:300]!r}")
            return None
        if connection_errors == 6:
            with self.ledger.lock:
                self.ledger.cancel_given_up += 1
        return None

    def _rebook_cancelled(self, connections: dict, reservation: Reservation, node_name: str) -> None:
        """Exactly a cancelled reservation, booked again at a node that took its cancellation: refused, 409."""
        node = self._node_by_name(node_name)
        connection = self._connection(connections, node)
        started = time.monotonic()
        try:
            connection.request("POST", "/api/v1/reservations", body=reservation.body(),
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.ledger.timed(f"booking again at node {node.name}", started,
                              isinstance(error, (TimeoutError, socket.timeout)))
            connection.close()
            with self.ledger.lock:
                self.ledger.statuses[("rebook", "connection-error")] += 1
            return
        self.ledger.timed(f"booking again at node {node.name}", started)
        with self.ledger.lock:
            self.ledger.statuses[("rebook", response.status)] += 1
        try:
            problem = str(json.loads(data).get("type", ""))
        except (ValueError, AttributeError):
            problem = ""
        if response.status == 409 and problem.endswith("/reservation-cancelled"):
            with self.ledger.lock:
                self.ledger.reposts_refused += 1
        else:
            self.ledger.fail(f"node {node.name} took its cancellation of {reservation.digest}, but booking exactly "
                             f"the same again answered {response.status}: {data[:300]!r}")

    def _read_back(self, rng: random.Random, connections: dict, reservation: Reservation, node_name: str,
                   cancelled: bool) -> None:
        """A reservation this node acknowledged must be readable there through its private link: from
        PostgreSQL or, when it cannot answer in time, from the node's local projection; a cancelled one (read
        where it was cancelled) says so."""
        node = self._node_by_name(node_name)
        connection = self._connection(connections, node)
        digest = reservation.digest
        with self.ledger.lock:
            token = self.ledger.tokens[digest]
        started = time.monotonic()
        through_site = rng.random() < 0.2
        try:
            connection.request("GET", f"/orders/{digest}?token={token}" if through_site
                               else f"/api/v1/reservations/{digest}?token={token}")
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.ledger.timed(f"GET from node {node.name}", started,
                              isinstance(error, (TimeoutError, socket.timeout)))
            connection.close()
            with self.ledger.lock:
                self.ledger.statuses[("get", "connection-error")] += 1
            time.sleep(0.05)
            return
        self.ledger.timed(f"GET from node {node.name}", started)
        with self.ledger.lock:
            self.ledger.statuses[("get", response.status)] += 1
            self.ledger.reads_checked += 1
        if response.status != 200:
            self.ledger.fail(f"node {node.name} acknowledged {digest} but GET with its private link answered "
                             f"{response.status}: {data[:300]!r}")
            return
        if through_site:
            if digest.encode() not in data:
                self.ledger.fail(f"node {node.name}'s page for {digest} does not name it")
            elif cancelled and b"Cancelled" not in data:
                self.ledger.fail(f"node {node.name} took the cancellation of {digest}, but its page does not say so")
            return
        answer = json.loads(data)
        expected = {"name": reservation.name, "people": reservation.people, "datetime": reservation.date_time,
                    "notes": reservation.notes, "statusToken": token}
        if any(answer.get(key) != value for key, value in expected.items()):
            self.ledger.fail(f"node {node.name} shows {digest} as {answer}, sent {expected}")
        if cancelled and not answer.get("cancellation"):
            self.ledger.fail(f"node {node.name} took the cancellation of {digest}, but shows it as {answer}")
        elif not cancelled and answer.get("cancellation"):
            self.ledger.fail(f"node {node.name} shows {digest}, which nobody cancelled, as cancelled: {answer}")

    def _list(self, rng: random.Random, connections: dict) -> None:
        """A page of the book, on the operator listener (where it needs no sign-in): from PostgreSQL, or from
        the local projection when it cannot answer."""
        node = rng.choice(self.nodes)
        connection = self._connection(connections, node, operator=True)
        started = time.monotonic()
        try:
            connection.request("GET", f"/api/v1/reservations?from=20{rng.randint(27, 30)}-01-01T00:00&limit=50")
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.ledger.timed(f"GET list from node {node.name}", started,
                              isinstance(error, (TimeoutError, socket.timeout)))
            connection.close()
            with self.ledger.lock:
                self.ledger.statuses[("list", "connection-error")] += 1
            return
        self.ledger.timed(f"GET list from node {node.name}", started)
        with self.ledger.lock:
            self.ledger.statuses[("list", response.status)] += 1
        if response.status != 200 or "items" not in json.loads(data):
            self.ledger.fail(f"GET list from node {node.name}'s operator listener answered {response.status}: "
                             f"{data[:300]!r}")

    # Hostile input: each must be refused with a 4xx (never a 5xx, never stored, never a crash).
    HOSTILE_BODIES: list[tuple[str, bytes, str]] = [
        ("truncated JSON", b'{"name": "Eve", "people": 2, "datetime": "2030-01-01T20:00"', "application/json"),
        ("not an object", b'[1, 2, 3]', "application/json"),
        ("empty body", b"", "application/json"),
        ("zero people", b'{"name": "Eve", "people": 0, "datetime": "2030-01-01T20:00"}', "application/json"),
        ("huge people", b'{"name": "Eve", "people": 1e400, "datetime": "2030-01-01T20:00"}', "application/json"),
        ("people as text", b'{"name": "Eve", "people": "2; DROP TABLE cafe.ordersraw", "datetime": "2030-01-01T20:00"}',
         "application/json"),
        ("a 41-character name", json.dumps({"name": "E" * 41, "people": 2, "datetime": "2030-01-01T20:00"}).encode(),
         "application/json"),
        ("NUL in the notes", b'{"name": "Eve", "people": 2, "datetime": "2030-01-01T20:00", "notes": "a\\u0000b"}',
         "application/json"),
        ("a lone surrogate", b'{"name": "Eve\\ud800", "people": 2, "datetime": "2030-01-01T20:00"}', "application/json"),
        ("invalid UTF-8", b'{"name": "Eve\xff\xfe", "people": 2, "datetime": "2030-01-01T20:00"}', "application/json"),
        ("February 30th", b'{"name": "Eve", "people": 2, "datetime": "2030-02-30T20:00"}', "application/json"),
        ("an unknown field", b'{"name": "Eve", "people": 2, "datetime": "2030-01-01T20:00", "admin": true}',
         "application/json"),
        ("a duplicated key", b'{"name": "Eve", "name": "Mallory", "people": 2, "datetime": "2030-01-01T20:00"}',
         "application/json"),
        ("deep nesting", b'{"name": ' + b"[" * 10000 + b"]" * 10000 + b"}", "application/json"),
        ("a form body", b"name=Eve&people=2&datetime=2030-01-01T20:00", "application/x-www-form-urlencoded"),
        ("4 MiB of notes", b'{"name": "Eve", "people": 2, "datetime": "2030-01-01T20:00", "notes": "'
         + b"x" * (4 << 20) + b'"}', "application/json"),
    ]

    def _intrusion(self, rng: random.Random, node: Node) -> tuple[str, int, int, bytes]:
        """A stranger on the public listener after what is not theirs: (what, the status it must get, the status
        it got, the body). A cancellation let through would put a row in cafe.cancellations that nobody asked
        for (cancel_invented); a cross-site booking let through, a row nobody sent (invented)."""
        with self.ledger.lock:
            digest = rng.choice(self.ledger.acknowledged_order)
            other = rng.choice(self.ledger.acknowledged_order)
            other_token = self.ledger.tokens.get(other, "")
        deadline = self.ledger.deadline
        choice = rng.randrange(8)
        if choice == 0:
            what, expected, request = "a reservation's status without its link", 401, \
                ("GET", f"/api/v1/reservations/{digest}", None, {})
        elif choice == 1 and other != digest:
            what, expected, request = "a reservation's status with another one's link", 401, \
                ("GET", f"/api/v1/reservations/{digest}?token={other_token}", None, {})
        elif choice == 2:
            what, expected, request = "the book without signing in", 401, \
                ("GET", "/api/v1/reservations?from=2027-01-01T00:00&limit=50", None, {})
        elif choice == 3:
            what, expected, request = "a cancellation without signing in", 401, \
                ("POST", f"/api/v1/reservations/{digest}/cancellation", b'{"reason": "not mine"}',
                 {"Content-Type": "application/json"})
        elif choice == 4:
            # An unsigned token (alg none) that claims to be the provider's staff member.
            def part(value: dict) -> str:
                return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
            forged = part({"alg": "none", "typ": "at+jwt"}) + "." + part(
                {"iss": self.provider.issuer, "sub": "demo-staff", "aud": OIDCProvider.CLIENT_ID, "groups": ["staff"],
                 "iat": int(time.time()), "exp": int(time.time()) + 600}) + "."
            what, expected, request = "a cancellation with a forged staff token", 401, \
                ("POST", f"/api/v1/reservations/{digest}/cancellation", b"",
                 {"Authorization": f"Bearer {forged}"})
        elif choice == 5:
            spelling = rng.choice(["/metrics", "/metrics/", "//metrics", "/%2Fmetrics"])
            what, expected, request = f"the metrics on the public listener ({spelling})", 404, \
                ("GET", spelling, None, {})
        elif choice == 6:
            what, expected, request = "the fault drill on the public listener", 404, \
                ("POST", "/admin/faults", b'{"databaseUnreachableSeconds": 60}', {"Content-Type": "application/json"})
        else:
            # Never recorded as sent: were it stored, it would be a row nobody sent.
            notes = f"cross-site {rng.randrange(1 << 40):x}"
            what, expected, request = "a cross-site form post", 403, \
                ("POST", "/order", Reservation(name="Mallory", people=2, date_time="2029-02-02T20:00", notes=notes,
                                               test_failures=False).form(),
                 {"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.example"})
        method, path, body, headers = request
        status, _, data = http_request(node.port, method, path, body, headers, timeout=deadline)
        return what, expected, status, data

    def _hostile(self) -> None:
        rng = random.Random(self.seed * 7_919 + 17)
        while not self.stopping.is_set():
            time.sleep(rng.uniform(0.05, 0.15))
            node = rng.choice(self.nodes)
            kind = rng.random()
            started = time.monotonic()
            expected = None
            try:
                if kind < 0.7:
                    what, body, content_type = rng.choice(self.HOSTILE_BODIES)
                    status, _, data = http_request(node.port, "POST", "/api/v1/reservations", body,
                                                   {"Content-Type": content_type}, timeout=self.ledger.deadline)
                elif kind < 0.9 and self.ledger.acknowledged_order:
                    what, expected, status, data = self._intrusion(rng, node)
                elif kind < 0.92:
                    what = "a bad digest"
                    status, _, data = http_request(node.port, "GET", "/api/v1/reservations/..%2f..%2fetc%2fpasswd",
                                                   timeout=self.ledger.deadline)
                else:
                    what = "a client that stops mid-body"
                    self._stall(node)
                    status, data = None, b""
            except (OSError, http.client.HTTPException) as error:
                # The node may be down (a kill), or may have closed a body it would not read (413): both fine.
                self.ledger.timed(f"hostile request to node {node.name}", started,
                                  isinstance(error, (TimeoutError, socket.timeout)))
                with self.ledger.lock:
                    self.ledger.hostile += 1
                    self.ledger.statuses[("hostile", "connection-error")] += 1
                continue
            if status is None:
                continue
            self.ledger.timed(f"hostile request ({what}) to node {node.name}", started)
            with self.ledger.lock:
                self.ledger.hostile += 1
                self.ledger.statuses[("hostile", status)] += 1
            if not 400 <= status < 500 or (expected is not None and status != expected):
                self.ledger.fail(f"hostile input ({what}) to node {node.name} answered {status}"
                                 f"{f' (must be {expected})' if expected else ''}: {data[:300]!r}")

    def _stall(self, node: Node) -> None:
        """Sends half a request and hangs up a little later: the node must not wait on it with others."""
        with socket.create_connection(("127.0.0.1", node.port), timeout=2) as sock:
            sock.sendall(b"POST /api/v1/reservations HTTP/1.1\r\nHost: faults\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 200\r\n\r\n{\"name\": \"Slow")
            time.sleep(1.5)


# MARK: - The scheduler


@dataclasses.dataclass
class Plan:
    duration: float
    kills: int
    outages: int
    full_disks: int
    clock_jumps: int
    graceful_restarts: int
    workers: int
    maximum_requests: int


PLANS = {
    "short": Plan(duration=120, kills=10, outages=4, full_disks=1, clock_jumps=3, graceful_restarts=2, workers=12,
                  maximum_requests=400_000),
    "full": Plan(duration=780, kills=56, outages=16, full_disks=5, clock_jumps=10, graceful_restarts=8, workers=24,
                 maximum_requests=3_000_000),
    # Twenty seconds with a kill, an outage, a SIGTERM and a clock jump (too short for a full disk's window): for
    # seeing the checks fail (--sabotage) in CI, not for figures.
    "smoke": Plan(duration=20, kills=1, outages=1, full_disks=0, clock_jumps=1, graceful_restarts=1, workers=6,
                  maximum_requests=100_000),
}
# The fault suite fails when more than this share of posts were given up after connection errors only.
MOST_GIVEN_UP = 0.01
# A node up at least this long (outside a full disk) must acknowledge something.
SHORTEST_PHASE_SECONDS = 1.0
OUTAGE_KINDS = ["stop", "freeze", "blackhole", "refuse"]
# A node told to stop (SIGTERM) must be gone within this long, whatever its database is doing.
GRACEFUL_STOP_SECONDS = 10
CLOCK_OFFSETS = [3600, -3600, -86400, 3 * 86400, -7 * 86400, 90, -90, 0, 400 * 86400, -2 * 3600]


@dataclasses.dataclass(order=True)
class Event:
    at: float
    order: int
    kind: str = dataclasses.field(compare=False)
    detail: dict = dataclasses.field(compare=False, default_factory=dict)


def make_schedule(plan: Plan, rng: random.Random, full_disk_node: str | None, node_names: list[str]) -> list[Event]:
    """The run's faults at random moments: kills anywhere; database outages and full disks in windows
    that do not overlap their own kind; clock jumps anywhere."""
    events: list[Event] = []
    order = iter(range(1_000_000))
    start, end = 4.0, plan.duration - 4.0
    for _ in range(plan.kills):
        events.append(Event(rng.uniform(start, end), next(order), "kill",
                            {"node": rng.choice(node_names), "down": rng.uniform(0, 1.5)}))

    def windows(count: int, shortest: float, longest: float, last: float = end) -> list[tuple[float, float]]:
        # Cut the run (up to `last`) into `count` equal slots and put one window at a random place in each.
        slot = (last - start) / max(count, 1)
        found = []
        for index in range(count):
            length = rng.uniform(shortest, min(longest, slot * 0.8))
            begin = start + index * slot + rng.uniform(0, slot - length)
            found.append((begin, length))
        return found

    kinds = []
    while len(kinds) < plan.outages:
        batch = OUTAGE_KINDS[:]
        rng.shuffle(batch)
        kinds += batch
    for (begin, length), kind in zip(windows(plan.outages, 2.0, 9.0), kinds):
        events.append(Event(begin, next(order), "outage", {"kind": kind, "length": length}))
    if full_disk_node:
        # Over 10 s before the end, so that there is time to see the node append again.
        for begin, length in windows(plan.full_disks, 3.0, 8.0, last=end - 10.0):
            events.append(Event(begin, next(order), "full-disk", {"node": full_disk_node, "length": length}))
            # One of the kills restarts the node on its full disk: recovery must not need room it lacks.
            if any(e.kind == "kill" for e in events):
                victim = next(e for e in events if e.kind == "kill" and not e.detail.get("on-full-disk"))
                victim.at = begin + rng.uniform(0.5, length - 0.5)
                victim.detail = {"node": full_disk_node, "down": rng.uniform(0, 1.0), "on-full-disk": True}
    for _ in range(plan.graceful_restarts):
        events.append(Event(rng.uniform(start, end), next(order), "term", {"node": rng.choice(node_names)}))
    # One SIGTERM lands while the database hangs (frozen or black-holed): shutdown must not wait on it.
    hangs = [e for e in events if e.kind == "outage" and e.detail["kind"] in ("freeze", "blackhole")]
    terms = [e for e in events if e.kind == "term"]
    if hangs and terms:
        hang = rng.choice(hangs)
        terms[0].at = hang.at + rng.uniform(0.3, max(0.4, hang.detail["length"] - 1.0))
    for _ in range(plan.clock_jumps):
        events.append(Event(rng.uniform(start, end), next(order), "clock",
                            {"node": rng.choice(node_names), "offset": rng.choice(CLOCK_OFFSETS)}))
    events.sort()
    return events


# MARK: - The run


class FaultSuite:
    def __init__(self, arguments: argparse.Namespace):
        self.arguments = arguments
        self.mode = "full" if arguments.full else "smoke" if arguments.smoke else "short"
        self.plan = dataclasses.replace(PLANS[self.mode])
        if arguments.duration:
            self.plan.duration = arguments.duration
        if arguments.workers:
            self.plan.workers = arguments.workers
        self.seed = arguments.seed if arguments.seed is not None else random.SystemRandom().randrange(1, 2 ** 31)
        self.rng = random.Random(self.seed)
        self.deadline = arguments.deadline
        self.ledger = Ledger(self.deadline)
        self.counts = collections.Counter()
        self.cleanups: list = []
        self.notes: list[str] = []
        self.longest_restart = 0.0
        self.clock_jumps: list[tuple[str, int, float]] = []
        self.longest_graceful_stop = 0.0
        self.full_disk_node = None

    # Setup and teardown

    def setup(self) -> None:
        self.workdir = tempfile.mkdtemp(prefix="rananeeti-faults-")
        log(f"seed {self.seed} (replay with --seed {self.seed}); mode {self.mode}; work directory {self.workdir}")
        self.binary = self.arguments.binary
        if not os.access(self.binary, os.X_OK):
            raise RuntimeError(f"{self.binary} is not built: swift build -c release --product rananeeti")

        self.postgres = PrivatePostgres(self.workdir)
        self.cleanups.append(self._stop_postgres)
        self.postgres.start()
        self.proxy = TCPProxy(self.postgres.port)
        self.cleanups.append(self.proxy.close)
        run([self.binary, "db", "migrate", "--database", self.postgres.connection_string()])

        self.clock_jumps_enabled = not self.arguments.no_clock
        if not self.clock_jumps_enabled:
            self.notes.append("clock jumps skipped (--no-clock)")
        # Node a: the ordinary disk (real fdatasync). Node b: a small tmpfs that the suite fills up.
        data_a = os.path.join(self.workdir, "node-a")
        data_b = os.path.join(self.workdir, "node-b")
        os.mkdir(data_b)
        self.full_disk_node = None
        if IS_ROOT and not self.arguments.no_full_disk:
            size = self.arguments.tmpfs_mib or (1024 if self.mode == "full" else 128)
            result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}m", "tmpfs", data_b],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if result.returncode == 0:
                self.cleanups.append(lambda: subprocess.run(["umount", "-l", data_b]))
                self.full_disk_node = "b"
            else:
                self.cannot_inject(f"full disk: mount -t tmpfs failed: {result.stdout.strip()}")
        elif not IS_ROOT:
            self.cannot_inject("full disk: mounting a tmpfs needs root")
        else:
            self.notes.append("full disk skipped (--no-full-disk)")
        self.filler_paths = {"b": os.path.join(data_b, "filler")}
        database = self.postgres.connection_string(self.proxy.port) + " connect_timeout=2"
        # One file of session keys for both nodes (one base64 line: a 32-byte key), outside their data
        # directories, as a deployment of several nodes has it: a private link works on every node.
        session_keys = os.path.join(self.workdir, "session-keys")
        descriptor = os.open(session_keys, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as f:
            f.write(base64.b64encode(os.urandom(32)).decode() + "\n")
        self.nodes = [Node(name, self.binary, self.workdir, data, database, self.clock_jumps_enabled,
                           self.arguments.segment_bytes, session_keys) for name, data in (("a", data_a), ("b", data_b))]
        # The local OpenID provider, once for the run: the nodes sign people in with it (booking needs no
        # sign-in), and the load cancels with its staff member's bearer token.
        self.provider = OIDCProvider(self.workdir, [node.redirect_url for node in self.nodes])
        self.cleanups.append(self.provider.stop)
        self.provider.start()
        for node in self.nodes:
            node.sign_in_options = self.provider.serve_options(node.redirect_url)
        self.provider.staff_token()  # the provider mints tokens before the load begins
        self.cleanups.append(lambda: [node.kill() for node in self.nodes])
        for node in self.nodes:
            node.start()

    def cannot_inject(self, why: str) -> None:
        """A fault this machine cannot inject: a note for a run by hand, a failure in CI (CI=true), where a
        suite that quietly left out a fault would pass without having tried it."""
        if os.environ.get("CI") == "true":
            self.ledger.fail(f"cannot inject a fault with CI=true: {why}")
        else:
            self.notes.append(f"skipped: {why} (with CI=true this fails the run)")

    def _stop_postgres(self) -> None:
        if self.postgres.process:
            self.postgres.stop_immediate()

    def teardown(self, keep: bool) -> None:
        for cleanup in reversed(self.cleanups):
            try:
                cleanup()
            except Exception as error:  # noqa: BLE001 - best effort, report and go on
                log(f"cleanup: {error}")
        if keep:
            log(f"kept {self.workdir} (server logs: node-a.log, node-b.log; PostgreSQL: pg dir server.log)")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # Faults

    def kill(self, node: Node, down: float) -> None:
        node.check_alive()
        node.kill()
        self.counts["kills"] += 1
        time.sleep(down)
        try:
            took = node.start()
        except RuntimeError as error:
            self.ledger.fail(f"restart after a kill failed: {error}")
            raise
        self.longest_restart = max(self.longest_restart, took)

    def graceful_restart(self, node: Node) -> None:
        """SIGTERM under load, whatever the database is doing (even frozen or black-holed): the node must
        finish what it took and exit 0 within GRACEFUL_STOP_SECONDS, then start again."""
        node.check_alive()
        started = time.monotonic()
        status = node.stop_gracefully(timeout=60)
        took = time.monotonic() - started
        self.counts["graceful-restarts"] += 1
        self.longest_graceful_stop = max(self.longest_graceful_stop, took)
        if status != 0:
            self.ledger.fail(f"node {node.name} exited {status} on SIGTERM under load; its log ends:\n{node.log_tail()}")
        if took > GRACEFUL_STOP_SECONDS:
            self.ledger.fail(f"node {node.name} took {took:.1f} s to stop on SIGTERM (allowed {GRACEFUL_STOP_SECONDS} s)")
        self.longest_restart = max(self.longest_restart, node.start())

    def outage_begin(self, kind: str) -> None:
        self.counts[f"outage-{kind}"] += 1
        self.counts["outages"] += 1
        if kind == "stop":
            self.postgres.stop_immediate()
        elif kind == "freeze":
            self.postgres.freeze()
        elif kind in ("blackhole", "refuse"):
            self.proxy.set_mode(kind)

    def outage_end(self, kind: str) -> None:
        if kind == "stop":
            self.postgres.start()
        elif kind == "freeze":
            self.postgres.thaw()
        else:
            self.proxy.set_mode("forward")

    def disk_full_begin(self, node_name: str) -> None:
        self.counts["full-disks"] += 1
        with self.ledger.lock:
            self.ledger.full_windows[node_name].append([time.monotonic(), None])
        fill(self.filler_paths[node_name])

    def disk_full_end(self, node_name: str) -> None:
        os.unlink(self.filler_paths[node_name])
        with self.ledger.lock:
            self.ledger.full_windows[node_name][-1][1] = time.monotonic()

    def clock_jump(self, node: Node, offset: int) -> None:
        self.counts["clock-jumps"] += 1
        node.set_clock_offset(offset)
        self.clock_jumps.append((node.name, offset, time.time()))

    # The run

    def run(self) -> bool:
        schedule = make_schedule(self.plan, self.rng, self.full_disk_node, [node.name for node in self.nodes])
        if self.arguments.print_schedule:
            for event in schedule:
                log(f"  at {event.at:7.2f} s: {event.kind} {event.detail}")
        self.load = LoadGenerator(self.nodes, self.ledger, self.seed, self.plan.workers,
                                  f"fs{self.seed:x}", self.plan.maximum_requests, self.provider)
        begun = time.monotonic()
        self.load_began = begun
        self.load.start()
        log(f"load: {self.plan.workers} clients for {self.plan.duration:.0f} s; "
            f"{sum(e.kind == 'kill' for e in schedule)} kills, {sum(e.kind == 'outage' for e in schedule)} database "
            f"outages, {sum(e.kind == 'full-disk' for e in schedule)} full disks, "
            f"{sum(e.kind == 'clock' for e in schedule) if self.clock_jumps_enabled else 0} clock jumps planned")
        # Ends of windows join the queue as they begin.
        queue = list(schedule)
        last_report = begun
        try:
            while queue or time.monotonic() - begun < self.plan.duration:
                now = time.monotonic() - begun
                for node in self.nodes:
                    if not node.check_alive():
                        self.ledger.fail(node.unexpected_exits[-1] + f"; its log ends:\n{node.log_tail()}")
                        node.start()
                if time.monotonic() - last_report > 30:
                    last_report = time.monotonic()
                    log(f"  {now:5.0f} s: {self.ledger.requests} requests, {len(self.ledger.acknowledged)} "
                        f"acknowledged, {self.counts['kills']} kills, {self.counts['outages']} outages, "
                        f"{self.ledger.failure_count} failures")
                if not queue or queue[0].at > now:
                    time.sleep(0.02 if queue else min(0.2, max(0.0, self.plan.duration - now)))
                    continue
                event = queue.pop(0)
                self._perform(event, queue, now)
        finally:
            self.load_ended = time.monotonic()
            self.load.stop()
        self.load_seconds = self.load_ended - begun
        return True

    def _perform(self, event: Event, queue: list[Event], now: float) -> None:
        detail = event.detail
        if event.kind == "kill":
            self.kill(self._node(detail["node"]), detail["down"])
        elif event.kind == "outage":
            self.outage_begin(detail["kind"])
            self._later(queue, Event(now + detail["length"], event.order, "outage-end", {"kind": detail["kind"]}))
        elif event.kind == "outage-end":
            self.outage_end(detail["kind"])
        elif event.kind == "full-disk":
            self.disk_full_begin(detail["node"])
            self._later(queue, Event(now + detail["length"], event.order, "full-disk-end", {"node": detail["node"]}))
        elif event.kind == "full-disk-end":
            self.disk_full_end(detail["node"])
        elif event.kind == "term":
            self.graceful_restart(self._node(detail["node"]))
        elif event.kind == "clock" and self.clock_jumps_enabled:
            self.clock_jump(self._node(detail["node"]), detail["offset"])

    @staticmethod
    def _later(queue: list[Event], event: Event) -> None:
        queue.append(event)
        queue.sort()

    def _node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    # Drain and check

    def drain(self) -> float:
        """Heals everything, then waits until every node's projector has caught up (lag 0, connected)."""
        if self.postgres.process is None:
            self.postgres.start()
        if self.postgres.frozen:
            self.postgres.thaw()
        self.proxy.set_mode("forward")
        for path in self.filler_paths.values():
            if os.path.exists(path):
                os.unlink(path)
        for node in self.nodes:
            if not node.check_alive():
                self.ledger.fail(node.unexpected_exits[-1])
                node.start()
        started = time.monotonic()
        deadline = started + self.arguments.drain_deadline
        pending = {node.name for node in self.nodes}
        last_seen = {}
        while pending and time.monotonic() < deadline:
            for node in self.nodes:
                if node.name not in pending:
                    continue
                try:
                    # The readiness details are on the operator listener (the public one says only "ready").
                    status, _, body = http_request(node.operator_port, "GET", "/readyz", timeout=5)
                    ready = json.loads(body)
                    last_seen[node.name] = ready
                    if ready["database"]["reachable"] and ready["projection"]["lagEvents"] == 0:
                        pending.discard(node.name)
                except (OSError, ValueError, KeyError):
                    pass
            time.sleep(0.2)
        drained = time.monotonic() - started
        for name in sorted(pending):
            self.ledger.fail(f"node {name} did not drain within {self.arguments.drain_deadline} s: /readyz "
                             f"{json.dumps(last_seen.get(name))}")
        return drained

    def check(self) -> dict:
        results: dict = {}
        # Stop the nodes gracefully: a clean stop exits 0 with the log synced.
        for node in self.nodes:
            status = node.stop_gracefully()
            if status != 0:
                self.ledger.fail(f"node {node.name} exited with {status} on SIGTERM; its log ends:\n{node.log_tail()}")

        # Every log verifies; within one log a digest appears once; appendedAt never goes back.
        log_duplicates = 0
        log_missing = 0
        end_offsets = {}
        reservation_events: dict[str, int] = {}
        # (node id, offset) -> the reservation.cancelled event there, from every log.
        cancellation_events: dict[tuple[str, int], dict] = {}
        cancelled_anywhere: set[str] = set()
        latest_appended_at: dict[str, float] = {}
        segments: dict[str, int] = {}
        for node in self.nodes:
            verify = subprocess.run([self.binary, "log", "verify", node.data_dir], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            if verify.returncode != 0:
                self.ledger.fail(f"log verify {node.data_dir} exited {verify.returncode}: {verify.stdout.strip()}")
            dump = subprocess.run([self.binary, "log", "dump", node.data_dir], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
            if dump.returncode != 0:
                self.ledger.fail(f"log dump {node.data_dir} exited {dump.returncode}: {dump.stderr.decode()[:500]}")
            seen: collections.Counter = collections.Counter()
            cancelled_here: set[str] = set()
            previous_time = ""
            count = 0
            for line in dump.stdout.splitlines():
                event = json.loads(line)
                if event.get("offset") != count:
                    self.ledger.fail(f"node {node.name}: offset {event.get('offset')} where {count} was expected")
                count += 1
                kind = event.get("type")
                if kind in ("reservation.accepted", "reservation.accepted.v2"):
                    seen[event["digest"]] += 1
                elif kind == "reservation.cancelled":
                    cancellation_events[(f"faults-{node.name}", event["offset"])] = event
                    cancelled_here.add(event["digest"])
                else:
                    self.ledger.fail(f"node {node.name}: an event of a type the load never causes at offset "
                                     f"{event.get('offset')}: {line[:300]!r}")
                if event["appendedAt"] < previous_time:
                    self.ledger.fail(f"node {node.name}: appendedAt went back at offset {event['offset']}: "
                                     f"{event['appendedAt']} after {previous_time}")
                previous_time = max(previous_time, event["appendedAt"])
            end_offsets[node.name] = count
            reservation_events[node.name] = sum(seen.values())
            segments[node.name] = sum(1 for name in os.listdir(node.data_dir) if name.endswith(".lz4"))
            latest_appended_at[node.name] = calendar.timegm(time.strptime(previous_time[:19], "%Y-%m-%dT%H:%M:%S")) \
                if previous_time else 0
            log_duplicates += sum(n - 1 for n in seen.values() if n > 1)
            acknowledged_here = [d for d, nodes in self.ledger.acknowledged.items() if node.name in nodes]
            missing = [d for d in acknowledged_here if d not in seen]
            log_missing += len(missing)
            if missing:
                self.ledger.fail(f"node {node.name} acknowledged {len(missing)} reservations its log lacks, "
                                 f"e.g. {missing[:5]}")
            invented = [d for d in seen if d not in self.ledger.sent]
            if invented:
                self.ledger.fail(f"node {node.name}'s log holds {len(invented)} digests nobody sent: {invented[:5]}")
            # Every cancellation this node took itself is in its log (durable before the 200), and nothing else is.
            missing = [d for d, taker in self.ledger.cancel_taken_by.items() if taker == node.name and d not in cancelled_here]
            if missing:
                self.ledger.fail(f"node {node.name} acknowledged {len(missing)} cancellations its log lacks, "
                                 f"e.g. {missing[:5]}")
            cancelled_anywhere |= cancelled_here
            invented = [d for d in cancelled_here if d not in self.ledger.cancel_sent]
            if invented:
                self.ledger.fail(f"node {node.name}'s log holds {len(invented)} cancellations nobody asked for: "
                                 f"{invented[:5]}")

        missing = [d for d in self.ledger.cancelled if d not in cancelled_anywhere]
        if missing:
            self.ledger.fail(f"{len(missing)} acknowledged cancellations are in no node's log, e.g. {missing[:5]}")

        # A forward clock jump shows in the log: appendedAt follows the log's clock (and never goes back).
        forward = [(name, offset, at) for name, offset, at in self.clock_jumps if offset >= 3600]
        seen_jumps = sum(1 for name, offset, at in forward if latest_appended_at.get(name, 0) >= at + offset - 60)
        results["clock_jumps_seen"] = f"{seen_jumps}/{len(forward)}"
        if forward and not seen_jumps:
            self.ledger.fail(f"no forward clock jump shows in the logs' appendedAt: {forward}")

        # To see the checks fail (they must be able to): damage the tables on purpose before reading them.
        sabotage = set(self.arguments.sabotage or [])
        if "delete-row" in sabotage and self.ledger.acknowledged:
            victim = next(iter(self.ledger.acknowledged))
            self.postgres.psql(f"DELETE FROM cafe.ordersraw WHERE ordrdgst = '{victim}'")
        if "foreign-row" in sabotage:
            self.postgres.psql("INSERT INTO cafe.ordersraw (ordrdgst, ordrname, ordrppl, ordrdttm, ordrtxt) "
                               "VALUES ('00000000000000000000', 'Mallory', 2, '2030-01-01 20:00', 'never sent')")
        if "double-insert" in sabotage:
            # What a projector that wrote an event twice would leave: one insert counted too many.
            self.postgres.psql("UPDATE cafe.projector_checkpoints SET events_inserted = events_inserted + 1 "
                               "WHERE node_id = 'faults-a'")
        if "delete-cancellation" in sabotage and self.ledger.cancelled:
            victim = next(iter(self.ledger.cancelled))
            self.postgres.psql(f"DELETE FROM cafe.cancellations WHERE ordrdgst = '{victim}'")
        if "foreign-cancellation" in sabotage:
            # A staff cancellation of an acknowledged reservation that nobody cancelled.
            victim = next((d for d in self.ledger.acknowledged if d not in self.ledger.cancel_sent), "0" * 20)
            self.postgres.psql(
                "INSERT INTO cafe.cancellations (ordrdgst, cancelled_at, by_issuer, by_subject, by_role, reason, "
                f"node_id, log_offset) VALUES ('{victim}', now(), '{self.provider.issuer}', 'demo-staff', 'staff', "
                "'never asked for', 'faults-a', 0)")

        # cafe.ordersraw: every acknowledged digest once, with what was sent; nothing that was never sent.
        rows = self.postgres.psql(
            "SELECT ordrdgst, ordrname, ordrppl, to_char(ordrdttm, 'YYYY-MM-DD\"T\"HH24:MI'), "
            "encode(convert_to(coalesce(ordrtxt, ''), 'UTF8'), 'hex') FROM cafe.ordersraw")
        table = {row[0].strip() for row in rows}
        lost = [d for d in self.ledger.acknowledged if d not in table]
        invented = [d for d in table if d not in self.ledger.sent]
        mismatched = 0
        for digest, name, people, date_time, notes_hex in rows:
            sent = self.ledger.sent.get(digest.strip())
            if sent and (name, int(people), date_time, bytes.fromhex(notes_hex).decode()) != (
                    sent.name, sent.people, sent.date_time, sent.notes):
                mismatched += 1
                if mismatched <= 5:
                    self.ledger.fail(f"row {digest} holds {(name, people, date_time)}, sent {sent}")
        if lost:
            self.ledger.fail(f"{len(lost)} acknowledged reservations are not in cafe.ordersraw, e.g. {lost[:5]}")
        if invented:
            self.ledger.fail(f"{len(invented)} rows in cafe.ordersraw were never sent, e.g. {invented[:5]}")
        if log_duplicates:
            self.ledger.fail(f"{log_duplicates} digests appended twice to the same node's log")
        # ordrdgst is UNIQUE, so the table cannot hold a digest twice; an event written twice shows in the
        # projectors' counters instead, which commit with the checkpoint: every event of a log is counted once,
        # as inserted, duplicate (its digest was there) or dead-lettered, and the inserts are the table's rows.
        counters = {row[0]: [int(value) for value in row[1:]] for row in self.postgres.psql(
            "SELECT node_id, next_offset, events_inserted, events_duplicate, events_dead_lettered "
            "FROM cafe.projector_checkpoints")}
        inserted = sum(values[1] for values in counters.values())
        counter_drift = inserted - len(rows)
        if counter_drift:
            self.ledger.fail(f"the projectors counted {inserted} rows inserted, cafe.ordersraw holds {len(rows)}")
        # The counters count reservation events (a cancellation goes to cafe.cancellations, checked below).
        for node in self.nodes:
            checkpoint, node_inserted, node_duplicate, node_dead = counters.get(f"faults-{node.name}", [None] * 4)
            if checkpoint != end_offsets.get(node.name):
                self.ledger.fail(f"node {node.name}: checkpoint {checkpoint} but its log ends at "
                                 f"{end_offsets.get(node.name)}")
            elif node_inserted + node_duplicate + node_dead != reservation_events[node.name]:
                self.ledger.fail(f"node {node.name}: its projector counted {node_inserted} inserted + "
                                 f"{node_duplicate} duplicate + {node_dead} dead-lettered events for a log of "
                                 f"{reservation_events[node.name]} reservation events: some event was projected "
                                 f"twice or not at all")
        dead = self.postgres.psql("SELECT count(*) FROM cafe.dead_letters")[0][0]
        if dead != "0":
            self.ledger.fail(f"{dead} events went to cafe.dead_letters")
        results.update(self.check_cancellations(cancellation_events))

        # The faults must have bitten.
        if self.full_disk_node and self.counts["full-disks"] and not self.ledger.full_disk_refusals:
            self.ledger.fail("the disk was filled but no append was refused with 503")
        if self.full_disk_node and self.counts["full-disks"]:
            room_again = self.ledger.full_windows[self.full_disk_node][-1][1]
            if self.ledger.last_append_at[self.full_disk_node] <= room_again:
                self.ledger.fail(f"node {self.full_disk_node} appended nothing after its disk had room again")
        self.check_availability()
        if self.mode == "full" and (self.counts["kills"] < 50 or self.counts["outages"] < 10):
            self.ledger.fail(f"a full run needs >= 50 kills and >= 10 outages; got {self.counts['kills']} and "
                             f"{self.counts['outages']}")
        results["segments"] = ",".join(f"{name}:{count}" for name, count in sorted(segments.items()))
        results.update(lost=len(lost), counter_drift=counter_drift, invented=len(invented), mismatched=mismatched,
                       log_duplicates=log_duplicates, log_missing=log_missing, rows=len(rows))
        return results

    def check_cancellations(self, events: dict[tuple[str, int], dict]) -> dict:
        """cafe.cancellations holds exactly the acknowledged cancellations, each once (its primary key is the
        digest), and nothing else: every row is a cancellation the load asked for, and stands for the
        reservation.cancelled event at its node id and log offset, with that event's time, canceller and
        reason, which are the staff member's and the reason sent."""
        ledger = self.ledger
        rows = self.postgres.psql(
            "SELECT ordrdgst, node_id, log_offset, by_issuer, by_subject, by_role, "
            "encode(convert_to(reason, 'UTF8'), 'hex'), "
            "to_char(cancelled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM cafe.cancellations")
        table = {row[0].strip(): row[1:] for row in rows}
        lost = [d for d in ledger.cancelled if d not in table]
        invented = [d for d in table if d not in ledger.cancel_sent]
        mismatched = 0
        for digest, (node_id, offset, issuer, subject, role, reason_hex, cancelled_at) in table.items():
            if digest not in ledger.cancel_sent:
                continue
            event = events.get((node_id, int(offset)), {})
            found = (event.get("digest"), issuer, subject, role, bytes.fromhex(reason_hex).decode(), cancelled_at)
            wanted = (digest, self.provider.issuer, "demo-staff", "staff", ledger.cancel_sent[digest],
                      event.get("appendedAt"))
            logged = (event.get("byIssuer"), event.get("bySubject"), event.get("byRole"), event.get("reason"))
            if found != wanted or logged != wanted[1:5]:
                mismatched += 1
                if mismatched <= 5:
                    ledger.fail(f"cafe.cancellations row {digest} holds {found} from {node_id} offset {offset}, "
                                f"whose event is {event or 'not a cancellation'}; sent {wanted}")
        if lost:
            ledger.fail(f"{len(lost)} acknowledged cancellations are not in cafe.cancellations, e.g. {lost[:5]}")
        if invented:
            ledger.fail(f"{len(invented)} rows in cafe.cancellations were never asked for, e.g. {invented[:5]}")
        if not ledger.cancelled:
            ledger.fail("no cancellation was acknowledged: the load's cancellations did not run")
        return {"cancel_rows": len(rows), "cancel_lost": len(lost), "cancel_invented": len(invented),
                "cancel_mismatched": mismatched}

    def check_availability(self) -> None:
        """Guests were served: few posts given up after connection errors, and every node that was up for a
        while (its disk not full) acknowledged something."""
        ledger = self.ledger
        if ledger.posts and ledger.given_up / ledger.posts > MOST_GIVEN_UP:
            ledger.fail(f"{ledger.given_up} of {ledger.posts} posts ({100 * ledger.given_up / ledger.posts:.1f} %) were "
                        f"given up after six connection errors (at most {100 * MOST_GIVEN_UP:g} % allowed)")
        for node in self.nodes:
            with node.phases_lock:
                phases = [list(phase) for phase in node.phases]
            for since, until, acknowledged in phases:
                since, until = max(since, self.load_began), min(until or self.load_ended, self.load_ended)
                full = any(start <= until and (end is None or end >= since)
                           for start, end in ledger.full_windows.get(node.name, []))
                if until - since >= SHORTEST_PHASE_SECONDS and not full and acknowledged == 0:
                    ledger.fail(f"node {node.name} was up from {since - self.load_began:.1f} s to "
                                f"{until - self.load_began:.1f} s of the load and acknowledged nothing")

    def figures(self, results: dict, drained: float, passed: bool) -> str:
        ledger = self.ledger
        outages = ",".join(f"{kind}:{self.counts['outage-' + kind]}" for kind in OUTAGE_KINDS)
        statuses = ",".join(f"{what}-{status}:{n}" for (what, status), n in sorted(
            ledger.statuses.items(), key=lambda item: (item[0][0], str(item[0][1]))))
        return (
            f"faults seed={self.seed} mode={self.mode} load={self.load_seconds:.0f}s clients={self.plan.workers} "
            f"kills={self.counts['kills']} outages={self.counts['outages']}({outages}) "
            f"full_disks={self.counts['full-disks'] if self.full_disk_node else 'skipped'} "
            f"refused_503={ledger.full_disk_refusals} "
            f"clock_jumps={self.counts['clock-jumps'] if self.clock_jumps_enabled else 'skipped'}"
            f"(forward_seen:{results.get('clock_jumps_seen', '?')}) "
            f"requests={ledger.requests} sent={len(ledger.sent)} acknowledged={len(ledger.acknowledged)} "
            f"given_up={ledger.given_up} "
            f"rows={results.get('rows', '?')} segments={results.get('segments', '?')} lost={results.get('lost', '?')} "
            f"counter_drift={results.get('counter_drift', '?')} invented={results.get('invented', '?')} "
            f"log_dupes={results.get('log_duplicates', '?')} cancellations={len(ledger.cancelled)} "
            f"cancel_sent={len(ledger.cancel_sent)} cancel_given_up={ledger.cancel_given_up} "
            f"cancel_rows={results.get('cancel_rows', '?')} cancel_lost={results.get('cancel_lost', '?')} "
            f"cancel_invented={results.get('cancel_invented', '?')} "
            f"cancel_mismatched={results.get('cancel_mismatched', '?')} rebook_refused={ledger.reposts_refused} "
            f"hostile={ledger.hostile} reads={ledger.reads_checked} "
            f"longest_wait={ledger.longest_wait:.3f}s deadline={self.deadline:g}s "
            f"over_deadline={ledger.deadline_violations} longest_restart={self.longest_restart:.2f}s "
            f"sigterms={self.counts['graceful-restarts']} longest_sigterm_stop={self.longest_graceful_stop:.2f}s "
            f"drain={drained:.1f}s failures={ledger.failure_count} [{statuses}] "
            f"{'PASS' if passed else 'FAIL'}")


def fill(path: str) -> None:
    """Writes `path` until the filesystem refuses another byte (ENOSPC)."""
    chunk = b"\x55" * (1 << 20)
    with open(path, "wb", buffering=0) as f:
        for size in (1 << 20, 4096, 1):
            while True:
                try:
                    f.write(chunk[:size])
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    break


def run(argv: list[str]) -> str:
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: {result.stdout}")
    return result.stdout


def main() -> int:
    repository = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--short", action="store_true", help="a run of a few minutes (the default; CI)")
    size.add_argument("--full", action="store_true", help="the long run: >= 50 kills, >= 10 database outages")
    size.add_argument("--smoke", action="store_true", help="twenty seconds, one fault of most kinds: to see --sabotage fail in CI")
    parser.add_argument("--seed", type=int, help="replay the schedule and the load of an earlier run")
    parser.add_argument("--binary", default=os.path.join(repository, ".build/release/rananeeti"),
                        help="the rananeeti executable (default: the release build)")
    parser.add_argument("--duration", type=float, help="seconds of load (default: 120 short, 780 full)")
    parser.add_argument("--workers", type=int, help="concurrent HTTP clients (default: 12 short, 24 full)")
    parser.add_argument("--deadline", type=float, default=5.0, help="the client's deadline per request, s (5)")
    parser.add_argument("--drain-deadline", type=float, default=120.0, help="how long projectors may take to catch up")
    parser.add_argument("--tmpfs-mib", type=int,
                        help="size of node b's tmpfs in MiB (default 128 short, 1024 full: room for the whole run's log)")
    parser.add_argument("--segment-bytes", type=int, default=256 << 10,
                        help="the nodes' log segment size (test hook; default 256 KiB, so that segments roll often)")
    parser.add_argument("--no-full-disk", action="store_true", help="skip the full-disk faults")
    parser.add_argument("--no-clock", action="store_true", help="skip the clock jumps")
    parser.add_argument("--print-schedule", action="store_true", help="print every planned fault")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (kept anyway on failure)")
    parser.add_argument("--sabotage", action="append",
                        choices=["delete-row", "foreign-row", "double-insert", "delete-cancellation",
                                 "foreign-cancellation"],
                        help="damage the tables before the checks, to see them fail (repeat for several): an "
                             "acknowledged row deleted (lost=1), a row nobody sent (invented=1), one insert counted "
                             "too many, as an event written twice would (counter_drift=1), an acknowledged "
                             "cancellation deleted (cancel_lost=1), a cancellation nobody asked for "
                             "(cancel_invented=1)")
    arguments = parser.parse_args()

    suite = FaultSuite(arguments)
    passed = False
    results: dict = {}
    drained = 0.0
    suite.load_seconds = 0.0

    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    try:
        suite.setup()
        suite.run()
        log("load stopped; healing everything and draining the projectors")
        drained = suite.drain()
        results = suite.check()
        passed = (suite.ledger.failure_count == 0 and results.get("lost") == 0 and results.get("counter_drift") == 0
                  and results.get("cancel_lost") == 0 and results.get("cancel_invented") == 0)
    except Exception as error:  # noqa: BLE001 - a harness failure is a failed run, reported as such
        suite.ledger.fail(f"the suite stopped: {type(error).__name__}: {error}")
    except KeyboardInterrupt as error:
        suite.ledger.fail(f"interrupted ({error})")
    finally:
        for message in suite.ledger.failures:
            log(f"FAILURE: {message}")
        if suite.ledger.failure_count > len(suite.ledger.failures):
            log(f"... and {suite.ledger.failure_count - len(suite.ledger.failures)} more failures")
        for note in suite.notes:
            log(f"note: {note}")
        suite.teardown(keep=arguments.keep or not passed)
    print(suite.figures(results, drained, passed), flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
