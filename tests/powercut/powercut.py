#!/usr/bin/env python3
"""Power cuts under `rananeeti log append` and `rananeeti serve`: nothing acknowledged may be lost.

SIGKILL leaves the kernel's page cache in place, so a kill test passes even if nothing is ever synced. A
power cut does not: here the log lives on the power-cut file system (powercutfs.py), which keeps every
byte and every directory change that was not fsync'd in memory and drops it on command. Each round:

  1. the power cut is armed for a random (seeded) change to come: the n-th write, sync, create, rename…
     from now, which may fall between a write and its sync, inside a segment's creation, or in recovery;
  2. the program under test works on the mount: `log append` fed reservations without pause, or `serve`
     under HTTP load (API posts answered 201/200, form posts answered 303);
  3. the power goes during that change: everything unsynced is dropped, or a prefix of it kept (a torn
     write), or random pages of it and random directories' changes kept (drop, tear, scatter; see
     durability.py), and the disk answers nothing more (EIO). The program is killed with SIGKILL and
     reaped, and the power comes back;
  4. on the same mount: `log verify` finds no damage (an unfinished tail is allowed until a writer opens
     the log), the log opens (a writer cuts the tail), `log verify` passes, and every reservation the
     clients saw acknowledged, in every round so far, is in the log with exactly what was sent (at its
     offset, for `log append`); nothing is in the log that was never sent; no digest twice;
  5. `serve` restarts on the same mount, answers the acknowledged reservations from its local
     projection (on its operator listener), opens them with the private links it handed out before the
     cuts (its session keys, made in the data directory on the first start, must survive them), and the
     next round begins.

    tests/powercut/run                         both scenarios, 20 + 10 rounds (what scripts/test runs)
    tests/powercut/run --seed 1234             replay the cut moments and modes of an earlier run
    tests/powercut/run --sabotage all          fsync/fdatasync lie (LD_PRELOAD): must FAIL, losing events
    tests/powercut/run --sabotage directories  only directory fsyncs lie: must FAIL too
    tests/powercut/run --scenario serve --serve-rounds 2 --sabotage session-keys
                                               the session keys lost at each cut: must FAIL with LINK

Prints progress on standard error and one line of figures per scenario on standard output. Exit status:
0 all held; 1 a check failed (what was lost is named); 2 the harness itself failed; 77 FUSE cannot be
mounted here (outside CI only: with CI=true that is a failure, status 1).
"""
from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

from mount import MountFailed, PowerCutMount  # noqa: E402
from reservations import Reservation, sample_reservation  # noqa: E402

CUT_MODES = ("drop", "tear", "scatter")
# Sabotage by a lying sync library (nosync.c); `session-keys` instead deletes the node's session keys at each cut.
LYING_SYNCS = ("all", "directories")
SKIPPED = 77


def log(message: str) -> None:
    print(f"[powercut {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Failed(Exception):
    """A check failed: something acknowledged was lost or changed, or the log is damaged."""


class Ledger:
    """What was sent, and what the clients saw acknowledged, over every round."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent: dict[str, Reservation] = {}
        self.by_offset: dict[int, Reservation] = {}   # log append: OFFSET DIGEST lines
        self.by_digest: dict[str, Reservation] = {}   # serve: 201/200/303 answers
        self.keys: dict[str, tuple[Reservation, int, bytes]] = {}  # serve: Idempotency-Key -> first answer
        self.links: dict[str, tuple[str, int]] = {}  # serve: digest -> (its private link's token, round handed out)
        self.links_opened = 0
        self.statuses: collections.Counter = collections.Counter()
        self.keys_replayed = 0

    def acknowledged(self) -> int:
        return len(self.by_offset) + len(self.by_digest)


class Rananeeti:
    """Runs the binary under test, with the test hooks and (for sabotage) the lying sync library."""

    def __init__(self, binary: str, segment_bytes: int, sabotage: str | None, shim: str | None):
        self.binary = binary
        self.environment = dict(os.environ, RANANEETI_SEGMENT_BYTES=str(segment_bytes),
                                RANANEETI_LOG_LEVEL="warning")
        for key in ("RANANEETI_DATABASE", "RANANEETI_DATA_DIR", "RANANEETI_NODE_ID", "PGHOST", "PGPORT"):
            self.environment.pop(key, None)
        if shim:
            self.environment.update(LD_PRELOAD=shim, RANANEETI_NOSYNC=sabotage)

    def popen(self, arguments: list[str], **options) -> subprocess.Popen:
        return subprocess.Popen([self.binary, *arguments], env=self.environment, **options)

    def run(self, arguments: list[str], stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
        return subprocess.run([self.binary, *arguments], env=self.environment, stdin=stdin,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)


class LogChecker:
    """The checks after a cut, against the log on the mount."""

    def __init__(self, rananeeti: Rananeeti, ledger: Ledger, directory: str):
        self.rananeeti = rananeeti
        self.ledger = ledger
        self.directory = directory
        self.tails_seen = 0
        self.snapshots_matching = 0
        self.tails_cut = 0

    def verify(self, allow_unfinished_tail: bool) -> None:
        if not os.path.isdir(self.directory) and self.ledger.acknowledged() == 0:
            return  # the power went while the log was being created, before anything was acknowledged
        if not os.path.isdir(self.directory):
            raise Failed(f"LOST: the log directory {self.directory} is gone after the cut, and with it "
                         f"{self.ledger.acknowledged()} acknowledged reservation(s)")
        result = self.rananeeti.run(["log", "verify", self.directory])
        # The local projection's snapshot (docs/SNAPSHOTS.md) stands only for synced records and is replaced
        # atomically: after any cut it must still match the log.
        notes = result.stdout.decode(errors="replace")
        if "projection.snapshot" in notes:
            if "matches the log" not in notes:
                raise Failed(f"SNAPSHOT: after the cut the projection's snapshot does not match the log: {notes.strip()}")
            self.snapshots_matching += 1
        if result.returncode == 3 and allow_unfinished_tail:
            self.tails_seen += 1
            return
        # The power went while the log was being created: its directory survived, its first segment did not.
        # Nothing was ever acknowledged, so nothing is lost; verify calls it damage, and a writer opening it
        # starts the log afresh.
        if (result.returncode == 1 and allow_unfinished_tail and self.ledger.acknowledged() == 0
                and b"holds no segment file" in result.stdout + result.stderr):
            return
        if result.returncode != 0:
            raise Failed(f"log verify exited {result.returncode}: {(result.stdout + result.stderr).decode().strip()}")

    def reopen(self) -> None:
        """Opens the log as a writer does (recovery cuts an unfinished tail) and closes it again."""
        result = self.rananeeti.run(["log", "append", self.directory, "--node-id", "powercut"])
        if result.returncode != 0:
            raise Failed(f"the log does not open after the cut: log append exited {result.returncode}: "
                         f"{result.stderr.decode().strip()}")
        if b"recovery:" in result.stderr:
            self.tails_cut += 1

    def compare(self) -> int:
        """Every acknowledged reservation is in the log as sent; nothing there was never sent. Returns the
        number of events in the log."""
        result = self.rananeeti.run(["log", "dump", self.directory])
        if result.returncode != 0:
            raise Failed(f"log dump exited {result.returncode}: {result.stderr.decode().strip()}")
        events = [json.loads(line) for line in result.stdout.splitlines()]
        problems: list[str] = []
        by_offset = {}
        digests = collections.Counter()
        for position, event in enumerate(events):
            if event.get("offset") != position:
                problems.append(f"offset {event.get('offset')} where {position} was expected")
        total = len(events)
        # The reservations; an Idempotency-Key's own event (docs/EVENTS.md) names one but is not one.
        events = [event for event in events if event.get("type") == "reservation.accepted"]
        for event in events:
            by_offset[event.get("offset")] = event
            digests[event.get("digest")] += 1
        with self.ledger.lock:
            by_offset_acknowledged = dict(self.ledger.by_offset)
            by_digest_acknowledged = dict(self.ledger.by_digest)
            sent = dict(self.ledger.sent)
        lost = [offset for offset in by_offset_acknowledged if offset not in by_offset]
        lost += [digest for digest in by_digest_acknowledged if digest not in digests]
        changed = []
        for offset, reservation in by_offset_acknowledged.items():
            if offset in by_offset and reservation.differences(by_offset[offset]):
                changed.append(f"offset {offset}: {'; '.join(reservation.differences(by_offset[offset]))}")
        by_digest_logged = {event.get("digest"): event for event in events}
        for digest, reservation in by_digest_acknowledged.items():
            if digest in by_digest_logged and reservation.differences(by_digest_logged[digest]):
                changed.append(f"{digest}: {'; '.join(reservation.differences(by_digest_logged[digest]))}")
        invented = [digest for digest in digests if digest not in sent]
        twice = [digest for digest, count in digests.items() if count > 1]
        if lost:
            problems.append(f"LOST: {len(lost)} acknowledged reservation(s) missing from the log, e.g. {lost[:5]}")
        if changed:
            problems.append(f"CHANGED: {len(changed)} acknowledged reservation(s) differ from what was sent, "
                            f"e.g. {changed[:3]}")
        if invented:
            problems.append(f"INVENTED: {len(invented)} event(s) whose digest was never sent, e.g. {invented[:5]}")
        if twice and by_digest_acknowledged:
            problems.append(f"{len(twice)} digest(s) twice in one log (serve appends a digest once), e.g. {twice[:5]}")
        if problems:
            raise Failed("; ".join(problems))
        return total


class PowerCutRun:
    def __init__(self, arguments: argparse.Namespace, mount: PowerCutMount, rananeeti: Rananeeti):
        self.arguments = arguments
        self.mount = mount
        self.rananeeti = rananeeti
        self.rng = random.Random(arguments.seed)
        self.cuts: collections.Counter = collections.Counter()
        self.bytes_dropped = 0
        self.bytes_kept = 0

    def arm(self, most_changes: int) -> tuple[int, str]:
        """Arms the power cut for a random change among the next `most_changes`; returns (change, mode). A
        sabotaged run drops everything unsynced at each cut, so that what the lying syncs lost is lost for sure."""
        changes = self.rng.randint(1, most_changes)
        mode = "drop" if self.arguments.sabotage in LYING_SYNCS else self.rng.choice(CUT_MODES)
        self.mount.arm(changes, mode, self.rng.randrange(1 << 30))
        return changes, mode

    def await_cut(self, round_number: int, changes: int, kill) -> None:
        """Waits for the armed power cut, kills the program under test (`kill`), and brings the power back."""
        came = self.mount.wait_off(120)
        kill()
        report = self.mount.cut(CUT_MODES[0], 0)  # ends the cut that came; cuts now if it never came
        if not came:
            raise Failed(f"round {round_number}: the power cut armed for change {changes} never came: the program "
                         f"under test stopped changing the log (see its output in {self.arguments.workdir})")
        mode = report["mode"]
        self.cuts[mode] += 1
        self.bytes_dropped += report["bytes_dropped"]
        self.bytes_kept += report["bytes_kept"]
        log(f"  round {round_number}: power cut during change {changes} ({mode}): {report['bytes_dropped']} "
            f"unsynced bytes dropped, {report['bytes_kept']} kept, {report['directories_reverted']} directories "
            f"reverted")

    def figures(self, scenario: str, ledger: Ledger, checker: LogChecker, events: int, passed: bool,
                extra: str = "") -> str:
        cuts = ",".join(f"{mode}:{self.cuts[mode]}" for mode in CUT_MODES)
        return (f"powercut scenario={scenario} seed={self.arguments.seed} rounds={sum(self.cuts.values())} "
                f"cuts={cuts} sabotage={self.arguments.sabotage or 'none'} sent={len(ledger.sent)} "
                f"acknowledged={ledger.acknowledged()} events_in_log={events} unsynced_bytes_dropped="
                f"{self.bytes_dropped} torn_bytes_kept={self.bytes_kept} unfinished_tails={checker.tails_seen} "
                f"tails_cut_on_open={checker.tails_cut}{extra} {'PASS' if passed else 'FAIL'}")


# MARK: - rananeeti log append


def append_scenario(run: PowerCutRun, rounds: int) -> str:
    ledger = Ledger()
    directory = os.path.join(run.mount.mountpoint, "log")
    checker = LogChecker(run.rananeeti, ledger, directory)
    events = 0
    passed = False
    try:
        for round_number in range(rounds):
            acknowledged = append_round(run, ledger, directory, round_number)
            checker.verify(allow_unfinished_tail=True)
            checker.reopen()
            checker.verify(allow_unfinished_tail=False)
            events = checker.compare()
            log(f"  round {round_number}: {acknowledged} acknowledged this round, {ledger.acknowledged()} in all, "
                f"{events} events in the log: all there")
        passed = True
    finally:
        if not passed:
            keep_evidence(run, directory)
        print(run.figures("append", ledger, checker, events, passed), flush=True)
    return "ok"


def append_round(run: PowerCutRun, ledger: Ledger, directory: str, round_number: int) -> int:
    """Feeds `log append` without pause until the armed power cut comes; returns how many it acknowledged."""
    rng = random.Random(run.rng.randrange(1 << 30))
    lines = [sample_reservation(rng, f"append r{round_number} #{n}") for n in range(20_000)]
    fed = [0]
    changes, _ = run.arm(run.arguments.most_changes)
    stderr_path = os.path.join(run.arguments.workdir, f"append-{round_number}.stderr")
    with open(stderr_path, "wb") as stderr:
        child = run.rananeeti.popen(["log", "append", directory, "--node-id", "powercut"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)

    def feed():
        try:
            for reservation in lines:
                child.stdin.write(reservation.body() + b"\n")
                child.stdin.flush()
                fed[0] += 1
        except (BrokenPipeError, ValueError, OSError):
            pass  # killed: the rest is never sent

    problems: list[str] = []
    acknowledged = []

    def read():
        # One output line per input line, in order. Every `OFFSET DIGEST` is an acknowledgement, also those
        # read after the power went (synced before it); `failed:` lines are appends the dead disk refused.
        for index, line in enumerate(child.stdout):
            text = line.decode().strip()
            if text.startswith("failed:"):
                continue
            offset_text, _, digest = text.partition(" ")
            if digest != lines[index].digest or not offset_text.isdigit():
                problems.append(f"line {index} acknowledged as {text!r}, expected digest {lines[index].digest}")
                return
            with ledger.lock:
                ledger.by_offset[int(offset_text)] = lines[index]
            acknowledged.append(index)

    threads = [threading.Thread(target=feed, daemon=True), threading.Thread(target=read, daemon=True)]
    for thread in threads:
        thread.start()

    def kill():
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        for thread in threads:
            thread.join(timeout=60)

    run.await_cut(round_number, changes, kill)
    with ledger.lock:
        for reservation in lines[:fed[0] + 1]:  # and the line being written when the pipe broke
            ledger.sent[reservation.digest] = reservation
    if problems:
        raise Failed(f"round {round_number}: {problems[0]}")
    return len(acknowledged)


# MARK: - rananeeti serve


class LoadClients:
    """A few HTTP clients posting reservations (API and form, some exact repeats) to one node until told to stop."""

    def __init__(self, port: int, ledger: Ledger, rng: random.Random, label: str, clients: int, round_number: int):
        self.port = port
        self.ledger = ledger
        self.label = label
        self.round_number = round_number
        self.stopping = threading.Event()
        self.acknowledged_now = 0
        self.problems: list[str] = []
        self.threads = [threading.Thread(target=self._client, args=(random.Random(rng.randrange(1 << 30)), index),
                                         daemon=True) for index in range(clients)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _client(self, rng: random.Random, index: int) -> None:
        number = 0
        mine: list[Reservation] = []
        while not self.stopping.is_set():
            if mine and rng.random() < 0.05:
                reservation = rng.choice(mine)  # an exact repeat: a double click
            else:
                number += 1
                reservation = sample_reservation(rng, f"{self.label} c{index} #{number}")
            with self.ledger.lock:
                self.ledger.sent[reservation.digest] = reservation
            through_form = rng.random() < 0.15
            # Half the API posts carry an Idempotency-Key, whose first answer must survive the cut.
            key = None if through_form or rng.random() < 0.5 else f"{self.label.replace(' ', '-')}-c{index}-{number}-{rng.randrange(1 << 30)}"
            try:
                acknowledged = self._post(reservation, through_form=through_form, key=key)
            except (OSError, http.client.HTTPException):
                continue  # the node was killed: not acknowledged
            if acknowledged:
                mine.append(reservation)

    def _post(self, reservation: Reservation, through_form: bool, key: str | None = None) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            if through_form:
                connection.request("POST", "/order", body=reservation.form(),
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
            else:
                headers = {"Content-Type": "application/json"}
                if key:
                    headers["Idempotency-Key"] = key
                connection.request("POST", "/api/v1/reservations", body=reservation.body(), headers=headers)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        kind = "form" if through_form else "api"
        with self.ledger.lock:
            self.ledger.statuses[f"{kind}-{response.status}"] += 1
        if response.status == 503:
            return False  # the log cannot write: the power went
        # An acknowledgement names the reservation's private link: PATH?token=TOKEN.
        digest = reservation.digest
        location = urllib.parse.urlsplit(response.getheader("Location") or "")
        tokens = urllib.parse.parse_qs(location.query).get("token", [])
        token = tokens[0] if len(tokens) == 1 else None
        if through_form and response.status == 303:
            acknowledged = location.path == f"/orders/{digest}" and token is not None
        elif not through_form and response.status in (200, 201):
            answer = json.loads(body)
            acknowledged = (answer.get("digest") == digest and location.path == f"/api/v1/reservations/{digest}"
                            and token is not None and answer.get("statusToken") == token)
        else:
            acknowledged = False
        if not acknowledged:
            self.problems.append(f"{kind} post answered {response.status} (Location "
                                 f"{response.getheader('Location')!r}): {body[:200]!r}")
            return False
        with self.ledger.lock:
            first = self.ledger.links.setdefault(digest, (token, self.round_number))
            if first[0] != token:
                self.problems.append(f"LINK: {digest} was given the private link token {token} in round "
                                     f"{self.round_number}, and {first[0]} in round {first[1]}")
                return False
            self.ledger.by_digest[reservation.digest] = reservation
            if key:
                self.ledger.keys[key] = (reservation, response.status, body)
            self.acknowledged_now += 1
        return True


class ServeNode:
    def __init__(self, run: PowerCutRun, directory: str):
        self.run = run
        self.directory = directory
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self.longest_start = 0.0
        self.snapshots_rejected = 0
        self.operator_port = 0

    def start(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.starts += 1
        self.log_path = os.path.join(self.run.arguments.workdir, f"serve-{self.starts}.log")
        with open(self.log_path, "wb") as output:
            self.process = self.run.rananeeti.popen(
                ["serve", "--listen", f"127.0.0.1:{self.port}", "--operator-listen", "127.0.0.1:0",
                 "--data-dir", self.directory, "--node-id", "powercut"], stdout=output, stderr=subprocess.STDOUT)
        started = time.monotonic()
        deadline = started + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Failed(f"serve exited with status {self.process.returncode} while starting: {self.log_tail()}")
            try:
                if self.get("/readyz")[0] == 200 and self.find_operator_listener():
                    self.longest_start = max(self.longest_start, time.monotonic() - started)
                    # A snapshot that survived a cut stands for synced records only: it must never be refused.
                    if "snapshot is not used" in self.log_text():
                        self.snapshots_rejected += 1
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise Failed(f"serve did not answer /readyz on both listeners within 60 s: {self.log_tail()}")

    def find_operator_listener(self) -> bool:
        """Whether the operator listener of this start is found: serve writes its address (port 0: a free one)
        into DATA_DIR/operator-listen once it listens, over the previous start's. What is there may still be
        the last start's address, where nothing listens any more, or another listener now does: only this
        start's operator listener answers /readyz with details."""
        try:
            with open(os.path.join(self.directory, "operator-listen")) as f:
                host, _, port = f.read().strip().rpartition(":")
            status, body = self.get("/readyz", port=int(port))
            if host == "127.0.0.1" and status == 200 and "projection" in json.loads(body):
                self.operator_port = int(port)
                return True
        except (OSError, ValueError, http.client.HTTPException):
            pass
        return False

    def get(self, path: str, port: int | None = None) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=60)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def log_text(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as output:
            return output.read()

    def log_tail(self) -> str:
        return " | ".join(self.log_text().strip().splitlines()[-8:])


def serve_scenario(run: PowerCutRun, rounds: int) -> str:
    ledger = Ledger()
    directory = os.path.join(run.mount.mountpoint, "node")
    checker = LogChecker(run.rananeeti, ledger, directory)
    node = ServeNode(run, directory)
    events = 0
    passed = False
    try:
        for round_number in range(rounds + 1):
            node.start()
            if round_number > 0:
                if "recovery cut a torn" in node.log_text():
                    checker.tails_cut += 1
                if node.snapshots_rejected:
                    raise Failed(f"SNAPSHOT: serve refused the projection's snapshot after a cut: {node.log_tail()}")
                # serve opened the log (cutting any unfinished tail): it verifies, and holds what was acknowledged.
                checker.verify(allow_unfinished_tail=False)
                events = checker.compare()
                check_reads(node, ledger, run.rng)
            if round_number == rounds:
                break
            changes, _ = run.arm(6 * run.arguments.most_changes)
            clients = LoadClients(node.port, ledger, run.rng, f"serve r{round_number}", run.arguments.clients,
                                  round_number)
            clients.start()

            def kill():
                node.kill()
                clients.stop()

            run.await_cut(round_number, changes, kill)
            if clients.problems:
                raise Failed(f"round {round_number}: {clients.problems[0]}")
            log(f"  round {round_number}: {clients.acknowledged_now} acknowledgements before the cut "
                f"({ledger.acknowledged()} distinct reservations acknowledged in all)")
            checker.verify(allow_unfinished_tail=True)
            if run.arguments.sabotage == "session-keys":
                # As if the file had not been synced: the next start makes new keys, and old links open nothing.
                try:
                    os.unlink(os.path.join(directory, "session-keys"))
                except FileNotFoundError:
                    pass
        status = node.stop()
        if status != 0:
            raise Failed(f"serve exited {status} on SIGTERM: {node.log_tail()}")
        checker.verify(allow_unfinished_tail=False)
        passed = True
    finally:
        if node.process and node.process.poll() is None:
            node.kill()
        if not passed:
            keep_evidence(run, directory)
        statuses = ",".join(f"{key}:{value}" for key, value in sorted(ledger.statuses.items()))
        print(run.figures("serve", ledger, checker, events, passed,
                          f" restarts={max(0, node.starts - 1)} longest_start={node.longest_start:.2f}s "
                          f"snapshots_matching={checker.snapshots_matching} snapshots_rejected={node.snapshots_rejected} "
                          f"keys_replayed={ledger.keys_replayed} links_opened={ledger.links_opened} "
                          f"[{statuses}]"), flush=True)
    return "ok"


def check_reads(node: ServeNode, ledger: Ledger, rng: random.Random) -> None:
    """A restarted node answers acknowledged reservations from its local projection (it has no database) on its
    operator listener; the private links it handed out before the cuts open them on the public listener (the
    session keys survived), where a reservation's status without its link is refused; and a retry with an
    acknowledged Idempotency-Key gets the first answer, byte for byte (docs/SNAPSHOTS.md)."""
    with ledger.lock:
        digests = sorted(ledger.by_digest)
        keys = sorted(ledger.keys)
        links = dict(ledger.links)
    for index, digest in enumerate(rng.sample(digests, min(20, len(digests)))):
        status, body = node.get(f"/api/v1/reservations/{digest}", port=node.operator_port)
        if status != 200 or json.loads(body).get("digest") != digest:
            raise Failed(f"LOST: after the restart GET /api/v1/reservations/{digest} on the operator listener "
                         f"answered {status}: {body[:200]!r}")
        token, handed_out = links[digest]
        path = f"/orders/{digest}?token={token}" if index % 4 == 3 else f"/api/v1/reservations/{digest}?token={token}"
        status, body = node.get(path)
        opened = status == 200 and (digest.encode() in body if path.startswith("/orders/")
                                    else json.loads(body).get("statusToken") == token)
        if not opened:
            raise Failed(f"LINK: the private link handed out in round {handed_out} ({path}) answered {status} "
                         f"after the restart: the session keys did not survive the cuts: {body[:200]!r}")
        ledger.links_opened += 1
        if index == 0:
            status, body = node.get(f"/api/v1/reservations/{digest}")
            if status != 401:
                raise Failed(f"LINK: GET /api/v1/reservations/{digest} without its link answered {status}, not 401: "
                             f"{body[:200]!r}")
    for key in rng.sample(keys, min(10, len(keys))):
        reservation, first_status, first_body = ledger.keys[key]
        connection = http.client.HTTPConnection("127.0.0.1", node.port, timeout=30)
        try:
            connection.request("POST", "/api/v1/reservations", body=reservation.body(),
                               headers={"Content-Type": "application/json", "Idempotency-Key": key})
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if (response.status, body) != (first_status, first_body) or response.getheader("Idempotent-Replayed") != "true":
            raise Failed(f"LOST: after the restart the retry with Idempotency-Key {key} answered {response.status} "
                         f"{body[:200]!r}, not the first answer {first_status} {first_body[:200]!r}")
        ledger.keys_replayed += 1


# MARK: - The run


def keep_evidence(run: PowerCutRun, directory: str) -> None:
    """Copies the log as the cut left it out of the mount (which goes away) for a look afterwards."""
    if os.path.isdir(directory):
        shutil.copytree(directory, os.path.join(run.arguments.workdir, "evidence-" + os.path.basename(directory)),
                        dirs_exist_ok=True)


def build_shim(workdir: str) -> str:
    target = os.path.join(workdir, "nosync.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", target, os.path.join(HERE, "nosync.c"), "-ldl"], check=True)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "debug", "rananeeti"))
    parser.add_argument("--scenario", choices=["append", "serve", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=20, help="power cuts under log append (20)")
    parser.add_argument("--serve-rounds", type=int, default=10, help="power cuts under serve (10)")
    parser.add_argument("--seed", type=int, help="replay an earlier run's cut moments and modes")
    parser.add_argument("--most-changes", type=int, default=60,
                        help="a round's power cut comes during one of the next 1..N changes to the file system "
                             "(serve: 6N); default 60")
    parser.add_argument("--clients", type=int, default=4, help="HTTP clients posting to serve (4)")
    parser.add_argument("--segment-bytes", type=int, default=16 << 10,
                        help="the log's segment size (test hook; 16 KiB: segments roll, directories are synced)")
    parser.add_argument("--sabotage", choices=["all", "directories", "session-keys"],
                        help="make fsync/fdatasync (all) or directory fsyncs lie, by LD_PRELOAD, or delete serve's "
                             "session keys at each cut (session-keys): the run must fail")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (kept anyway on failure)")
    arguments = parser.parse_args()
    if arguments.seed is None:
        arguments.seed = random.SystemRandom().randrange(1, 1 << 31)
    arguments.workdir = tempfile.mkdtemp(prefix="rananeeti-powercut-")
    in_ci = os.environ.get("CI") == "true"
    log(f"seed {arguments.seed} (replay with --seed {arguments.seed}); work directory {arguments.workdir}")
    if not os.access(arguments.binary, os.X_OK):
        log(f"FAILED: no executable at {arguments.binary} (build it: swift build --product rananeeti)")
        return 2

    mount = PowerCutMount(arguments.workdir)
    passed = False
    try:
        try:
            mount.mount()
        except MountFailed as error:
            if in_ci:
                log(f"FAILED: the power-cut tests cannot run: FUSE cannot be mounted: {error}. With CI=true this "
                    f"is a failure; CI needs /dev/fuse and root.")
                return 1
            log(f"SKIPPED: FUSE cannot be mounted here: {error}. The power-cut tests did not run.")
            return SKIPPED
        shim = build_shim(arguments.workdir) if arguments.sabotage in LYING_SYNCS else None
        rananeeti = Rananeeti(arguments.binary, arguments.segment_bytes, arguments.sabotage, shim)
        run = PowerCutRun(arguments, mount, rananeeti)
        if arguments.scenario in ("append", "both"):
            log(f"log append: {arguments.rounds} power cuts")
            append_scenario(run, arguments.rounds)
        if arguments.scenario in ("serve", "both"):
            run = PowerCutRun(arguments, mount, rananeeti)
            log(f"serve: {arguments.serve_rounds} power cuts under HTTP load")
            serve_scenario(run, arguments.serve_rounds)
        passed = True
        log(f"PASS: every acknowledged reservation survived every cut (stats: {json.dumps(mount.stats())})")
        return 0
    except Failed as failure:
        log(f"FAILED: {failure}")
        if arguments.sabotage == "session-keys":
            log("(expected: with --sabotage session-keys the node's session keys are gone after each cut, so the "
                "private links handed out before it must open nothing)")
        elif arguments.sabotage:
            log(f"(expected: with --sabotage {arguments.sabotage} the syncs lie, so a power cut must lose "
                f"acknowledged reservations)")
        return 1
    finally:
        mount.unmount()
        if passed and not arguments.keep:
            shutil.rmtree(arguments.workdir, ignore_errors=True)
        else:
            log(f"kept {arguments.workdir} (logs of each process; the log as the cut left it under evidence-*)")


if __name__ == "__main__":
    sys.exit(main())
