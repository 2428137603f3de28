import Foundation
import Orders
import Testing

/// How fast the read model can load the log: decoding stamped lines, and encoding records.
///
/// A measurement, not a check, so it is off by default; run it in release mode:
///
///     ORDERS_BENCH=1 swift test -c release --filter OrdersTests.DecodeSpeedTests
@Suite("Decode speed", .enabled(if: ProcessInfo.processInfo.environment["ORDERS_BENCH"] != nil))
struct DecodeSpeedTests {
    static let eventCount = 200_000

    /// Realistic lines: short names, mostly short notes, some non-ASCII, in one buffer as
    /// the log's reader would hold a decompressed batch.
    static func makeLines() throws -> (buffer: [UInt8], lines: [Range<Int>]) {
        var generator = SeededRandom(seed: 1)
        let names = ["Bob", "Zoë Müller", "山田 太郎", "Aoife O'Brien", "José \"Pepe\" García", "Li Wei", "Ngozi Okafor"]
        let notes = [
            "", "", "window seat", "birthday 🎂, a cake at 9pm please", "high chair\nand a quiet table", "allergy: nuts",
        ]
        var buffer: [UInt8] = []
        var lines: [Range<Int>] = []
        for offset in 0..<eventCount {
            let reservation = try Reservation(
                name: names.randomElement(using: &generator)!,
                people: Int.random(in: 1...12, using: &generator),
                dateTime: LocalDateTime(
                    year: 2026,
                    month: 12,
                    day: Int.random(in: 1...31, using: &generator),
                    hour: 19,
                    minute: 30
                ),
                notes: notes.randomElement(using: &generator)!,
                testFailures: Int.random(in: 0..<20, using: &generator) == 0
            )
            let record = ReservationEvent(node: "node-a", reservation: reservation).encodeRecord()
            let start = buffer.count
            buffer += Fixtures.stamp(record, offset: UInt64(offset), appendedAt: "2026-11-29T03:06:17.123Z")
            lines.append(start..<buffer.count)
            buffer.append(0x0A)
        }
        return (buffer, lines)
    }

    @Test("decodes a stamped line in well under two microseconds")
    func decode() throws {
        let (buffer, lines) = try Self.makeLines()
        var best = Duration.seconds(1000)
        var checksum: UInt64 = 0
        for _ in 0..<5 {
            let clock = ContinuousClock()
            let elapsed = try clock.measure {
                try buffer.withUnsafeBytes { bytes in
                    for line in lines {
                        let logged = try ReservationEvent.decode(line: UnsafeRawBufferPointer(rebasing: bytes[line]))
                        checksum &+= logged.offset &+ UInt64(logged.reservationEvent!.reservation.people)
                    }
                }
            }
            best = min(best, elapsed)
        }
        let nanoseconds = Double(best.components.attoseconds) / 1e9 + Double(best.components.seconds) * 1e9
        print(
            "decode: \(Self.eventCount) events, best of 5 \(best), \(nanoseconds / Double(Self.eventCount)) ns/event, \(buffer.count / Self.eventCount) bytes/line (checksum \(checksum))"
        )
        #expect(checksum > 0)
    }

    @Test("encodes records and computes digests")
    func encode() throws {
        let (buffer, lines) = try Self.makeLines()
        let events = try buffer.withUnsafeBytes { bytes in
            try lines.map {
                try ReservationEvent.decode(line: UnsafeRawBufferPointer(rebasing: bytes[$0])).reservationEvent!
            }
        }
        let clock = ContinuousClock()
        var output: [UInt8] = []
        output.reserveCapacity(buffer.count)
        let encoding = clock.measure {
            for event in events { event.appendRecord(to: &output) }
        }
        var digests = 0
        let digesting = clock.measure {
            for event in events where event.reservation.digest == event.digest { digests += 1 }
        }
        print("encode: \(encoding / events.count) per record; digest: \(digesting / events.count) per reservation")
        #expect(digests == events.count)
    }
}
