"""Reservations as the test harnesses send them, and their digest computed independently of the server.

Shared by bench/faults/faultsuite.py and tests/powercut/powercut.py. Standard library only.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import urllib.parse


def legacy_digest(name: str, people: int, date_time: str, notes: str, test_failures: bool) -> str:
    """BLAKE2b-80 of the old site's form JSON, written exactly as Python's json.dumps writes it (DESIGN.md)."""
    form = {"Name": name, "People": str(people), "date": date_time, "Message": notes}
    if test_failures:
        form["Emulate"] = "on"
    return hashlib.blake2b(json.dumps(form).encode("utf-8"), digest_size=10).hexdigest()


assert legacy_digest("Bob", 2, "2020-11-16T20:00", "window seat, caf\u00e9", False) == "2e401f4cba1d2e90f354"
assert legacy_digest("Bob", 2, "2020-11-16T20:00", "window seat, caf\u00e9", True) == "8a2f1dbfc18c8f751533"


@dataclasses.dataclass(frozen=True)
class Reservation:
    name: str
    people: int
    date_time: str
    notes: str
    test_failures: bool

    @property
    def digest(self) -> str:
        return legacy_digest(self.name, self.people, self.date_time, self.notes, self.test_failures)

    def body(self) -> bytes:
        """The JSON API's body (and a line for `rananeeti log append`)."""
        return json.dumps(
            {"name": self.name, "people": self.people, "datetime": self.date_time, "notes": self.notes,
             "testFailures": self.test_failures}, ensure_ascii=False).encode("utf-8")

    def form(self) -> bytes:
        """The same reservation as the site's form sends it."""
        fields = {"name": self.name, "people": str(self.people), "datetime": self.date_time, "notes": self.notes}
        if self.test_failures:
            fields["testFailures"] = "on"
        return urllib.parse.urlencode(fields).encode("ascii")

    def differences(self, event: dict) -> list[str]:
        """How a logged event (docs/EVENTS.md) differs from this reservation; empty when it holds exactly it."""
        expected = {"digest": self.digest, "name": self.name, "people": self.people, "datetime": self.date_time,
                    "notes": self.notes, "testFailures": self.test_failures}
        return [f"{key} {event.get(key)!r}, sent {value!r}" for key, value in expected.items() if event.get(key) != value]


# Names and notes that exercise the encodings: non-ASCII, quotes, backslashes, line breaks, emoji, markup.
NAMES = ["Bob", "Zoë", "Ana María", "李雷", "Ólafur Arnalds", "Nguyễn Văn An", "O'Brien", 'José "Pepe"',
         "🍰 Cake Club", "Ямщиков", "عائشة", "Ngozi", "Dvořák", "Smith & Sons", "<b>not bold</b>"]
NOTE_TAILS = ["", " window seat", ", café au lait", " 🎂 birthday", "\nsecond line", " — no nuts", " \\ back\\slash"]


def sample_reservation(rng, tag: str, test_failures: bool = False) -> Reservation:
    """A valid reservation whose notes start with `tag` (so that each is distinct), the rest drawn from `rng`."""
    return Reservation(
        name=rng.choice(NAMES), people=rng.randint(1, 12),
        date_time=f"20{rng.randint(27, 30)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
                  f"{rng.randint(8, 22):02d}:{rng.choice(['00', '15', '30', '45'])}",
        notes=f"{tag}{rng.choice(NOTE_TAILS)}", test_failures=test_failures)
