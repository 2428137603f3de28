import Foundation
import Testing

@testable import EventLog
import Orders
import TestSupport

/// `rananeeti log verify` and the independent verifier (`tools/verify_log.py`, written from the format and event
/// pages alone) give the same verdict, at the same file and byte, on every case the pages describe: each case
/// is a log whose batches hash and chain correctly, so that only the checks beyond the hashes can find it.
@Suite("Verify: everything the format and event pages promise, two verifiers agreeing", .timeLimit(.minutes(5)))
struct VerifyAgreementTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    let binary: String

    init() throws {
        binary = try BuiltProducts.executable("rananeeti")
    }

    /// One batch of a log, as the edits below see it.
    struct Batch {
        var firstOffset: UInt64
        /// The stored lines, without line feeds.
        var lines: [[UInt8]]
        var millis: ClosedRange<Int64>
        /// Applied to the payload frame after compression (before the hashes are computed).
        var editFrame: (([UInt8]) -> [UInt8])?
    }

    enum Verdict: String {
        case intact, damaged, unfinished
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        /// The batch the edit touches (the verdict names it), and the edit.
        var batch: Int
        var expected: Verdict
        var structureOnlyExpected: Verdict
        /// Whether `log dump` must fail (an event that is not one).
        var dumpFails = false
        var edit: @Sendable (inout [Batch]) -> Void
        var testDescription: String { name }
    }

    /// Replaces `old` with `new` in the caller's part of line `line` of batch `batch`.
    static func replacing(_ old: String, _ new: String, line: Int = 0) -> @Sendable (inout [Batch]) -> Void {
        { batches in
            let text = String(decoding: batches[3].lines[line], as: UTF8.self)
            precondition(text.contains(old), "\(old) not in \(text)")
            batches[3].lines[line] = Array(text.replacingOccurrences(of: old, with: new).utf8)
        }
    }

    /// Replaces the caller's part of the first line of batch 3 (everything after the envelope) with `body`.
    static func body(_ body: String) -> @Sendable (inout [Batch]) -> Void {
        { batches in
            let text = String(decoding: batches[3].lines[0], as: UTF8.self)
            let envelopeEnd = text.range(of: #"Z","#)!.upperBound
            batches[3].lines[0] = Array((text[..<envelopeEnd] + body).utf8)
        }
    }

    /// Makes the first line of batch 3 a `reservation.accepted.v2` booking with `guestFields` after its own.
    static func guestBooking(_ guestFields: String) -> @Sendable (inout [Batch]) -> Void {
        { batches in
            let text = String(decoding: batches[3].lines[0], as: UTF8.self)
            precondition(text.hasSuffix("}") && text.contains(#""type":"reservation.accepted""#))
            batches[3].lines[0] = Array(
                (text.dropLast().replacingOccurrences(of: #""type":"reservation.accepted""#, with: #""type":"reservation.accepted.v2""#)
                    + "," + guestFields + "}").utf8)
        }
    }

    static func nested(_ depth: Int) -> String {
        String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
    }

    static let cases: [Case] = [
        Case(name: "an untouched log", batch: 3, expected: .intact, structureOnlyExpected: .intact) { _ in },
        Case(name: "an event of an unknown type, with nesting 32 deep", batch: 3, expected: .intact, structureOnlyExpected: .intact,
             edit: body(#""type":"table.moved","from":{"a":[1,2.5e3,null,true]},"deep":\#(nested(32))}"#)),
        Case(name: "an unknown type nested 33 deep", batch: 3, expected: .damaged, structureOnlyExpected: .intact, dumpFails: true,
             edit: body(#""type":"table.moved","deep":\#(nested(33))}"#)),
        Case(name: "an unknown type with a lone surrogate", batch: 3, expected: .damaged, structureOnlyExpected: .intact, dumpFails: true,
             edit: body(#""type":"table.moved","note":"\ud800"}"#)),
        Case(name: "an idempotency key event", batch: 3, expected: .intact, structureOnlyExpected: .intact,
             edit: body(#""type":"idempotency.key","node":"a","key":"k-1","digest":"2e401f4cba1d2e90f354","created":true}"#)),
        Case(name: "an idempotency key event with a space in its key", batch: 3, expected: .damaged, structureOnlyExpected: .intact, dumpFails: true,
             edit: body(#""type":"idempotency.key","node":"a","key":"k 1","digest":"2e401f4cba1d2e90f354","created":true}"#)),
        Case(name: "an idempotency key event with a field too many", batch: 3, expected: .damaged, structureOnlyExpected: .intact, dumpFails: true,
             edit: body(#""type":"idempotency.key","node":"a","key":"k-1","digest":"2e401f4cba1d2e90f354","created":true,"x":1}"#)),
        Case(name: "a signed-in guest's booking", batch: 3, expected: .intact, structureOnlyExpected: .intact,
             edit: guestBooking(#""guestIssuer":"https://id.example","guestSubject":"248289761001""#)),
        Case(name: "a signed-in guest's booking without its subject", batch: 3, expected: .damaged, structureOnlyExpected: .intact, dumpFails: true,
             edit: guestBooking(#""guestIssuer":"https://id.example""#)),
        Case(name: "a guest subject with a line separator", batch: 3, expected: .damaged, structureOnlyExpected: .intact, dumpFails: true,
             edit: guestBooking(#""guestIssuer":"https://id.example","guestSubject":"a b""#)),
        Case(name: "a guest in a reservation.accepted event", batch: 3, expected: .damaged, structureOnlyExpected: .intact, dumpFails: true,
             edit: replacing(#""testFailures":false"#, #""testFailures":false,"guestIssuer":"https://id.example","guestSubject":"1""#)),
        Case(name: "a cancellation", batch: 3, expected: .intact, structureOnlyExpected: .intact,
             edit: body(#""type":"reservation.cancelled","node":"a","digest":"2e401f4cba1d2e90f354","byIssuer":"https://id.example","bySubject":"248","byRole":"staff","reason":"closed for a private party"}"#)),
        Case(name: "a cancellation by someone in no known role", batch: 3, expected: .damaged, structureOnlyExpected: .intact, dumpFails: true,
             edit: body(#""type":"reservation.cancelled","node":"a","digest":"2e401f4cba1d2e90f354","byIssuer":"https://id.example","bySubject":"248","byRole":"owner","reason":""}"#)),
        Case(name: "a cancellation whose reason is 201 characters", batch: 3, expected: .damaged, structureOnlyExpected: .intact, dumpFails: true,
             edit: body(#""type":"reservation.cancelled","node":"a","digest":"2e401f4cba1d2e90f354","byIssuer":"https://id.example","bySubject":"248","byRole":"guest","reason":"\#(String(repeating: "é", count: 201))"}"#)),
        Case(name: "a cancellation with a reservation's field", batch: 3, expected: .damaged, structureOnlyExpected: .intact, dumpFails: true,
             edit: body(#""type":"reservation.cancelled","node":"a","digest":"2e401f4cba1d2e90f354","byIssuer":"https://id.example","bySubject":"248","byRole":"guest","reason":"","people":2}"#)),
        Case(name: "malformed JSON after the envelope", batch: 3, expected: .damaged, structureOnlyExpected: .intact, dumpFails: true,
             edit: body(#""type":"table.moved",,"x":1}"#)),
        Case(name: "no type", batch: 3, expected: .damaged, structureOnlyExpected: .intact, dumpFails: true,
             edit: body(#""kind":"x"}"#)),
        Case(name: "a known field twice", batch: 3, expected: .damaged, structureOnlyExpected: .intact, dumpFails: true,
             edit: body(#""type":"table.moved","node":"a","node":"b"}"#)),
        Case(name: "a reservation whose digest is not its fields'", batch: 3, expected: .damaged, structureOnlyExpected: .intact, dumpFails: true,
             edit: replacing(#""testFailures":false"#, #""testFailures":true"#)),
        Case(name: "people written 2.0", batch: 3, expected: .damaged, structureOnlyExpected: .intact, dumpFails: true) { batches in
            let text = String(decoding: batches[3].lines[0], as: UTF8.self)
            let people = text.range(of: #""people":\d+"#, options: .regularExpression)!
            batches[3].lines[0] = Array(text.replacingCharacters(in: people, with: text[people] + ".0").utf8)
        },
        Case(name: "an unknown field in a reservation", batch: 3, expected: .damaged, structureOnlyExpected: .intact, dumpFails: true,
             edit: replacing(#""testFailures":false"#, #""testFailures":false,"extra":1"#)),
        Case(name: "a name with a trailing space", batch: 3, expected: .damaged, structureOnlyExpected: .intact, dumpFails: true,
             edit: replacing(#"","people""#, #" ","people""#)),
        Case(name: "a date that does not exist", batch: 3, expected: .damaged, structureOnlyExpected: .intact, dumpFails: true) { batches in
            let text = String(decoding: batches[3].lines[0], as: UTF8.self)
            let date = text.range(of: #""datetime":"\d{4}-\d{2}-\d{2}"#, options: .regularExpression)!
            batches[3].lines[0] = Array(text.replacingCharacters(in: date, with: #""datetime":"2026-02-30"#).utf8)
        },
        Case(name: "a record stamped with another offset", batch: 3, expected: .damaged, structureOnlyExpected: .damaged) { batches in
            let text = String(decoding: batches[3].lines[0], as: UTF8.self)
            batches[3].lines[0] = Array(text.replacingOccurrences(of: #"{"offset":3,"#, with: #"{"offset":30,"#).utf8)
        },
        Case(name: "appendedAt going back from one batch to the next", batch: 3, expected: .damaged, structureOnlyExpected: .damaged) { batches in
            let earlier = batches[2].millis.lowerBound - 1
            batches[3].lines[0] = restamped(batches[3].lines[0], millis: earlier)
            batches[3].millis = earlier...earlier
        },
        Case(name: "appendedAt disagreeing with the batch's header", batch: 3, expected: .damaged, structureOnlyExpected: .damaged) { batches in
            batches[3].millis = batches[3].millis.lowerBound...batches[3].millis.upperBound + 1
        },
        Case(name: "appendedAt not in the documented form", batch: 3, expected: .damaged, structureOnlyExpected: .damaged, dumpFails: true) { batches in
            let text = String(decoding: batches[3].lines[0], as: UTF8.self)
            batches[3].lines[0] = Array(text.replacingOccurrences(of: "Z\",", with: "+00:00\",").utf8)
        },
        Case(name: "an LZ4 frame without its content size (valid for lz4, not the prescribed form)", batch: 3, expected: .damaged, structureOnlyExpected: .damaged) { batches in
            batches[3].editFrame = { frame in
                var edited = Array(frame[0..<4]) + [0x60, frame[5]]
                edited.append(UInt8((xxh32(edited[4..<6]) >> 8) & 0xFF))
                return edited + frame[15...]
            }
        },
        Case(name: "an LZ4 frame whose header checksum fails", batch: 3, expected: .damaged, structureOnlyExpected: .damaged, dumpFails: true) { batches in
            batches[3].editFrame = { frame in
                var edited = frame
                edited[14] ^= 0xFF
                return edited
            }
        },
    ]

    @Test("both verifiers agree on each case, file and byte included; log dump fails on an event that is not one", arguments: cases)
    func agree(_ testCase: Case) async throws {
        try await withTemporaryDirectory { dir in
            let path = try makeLog(dir, count: 8)
            let segment = path + "/00000000000000000000.lz4"
            var batches = try readBatches(path)
            testCase.edit(&batches)
            try writeSegment(segment, batches)
            // The batches were written again, with new hashes: the writer's record of how far it synced names
            // the old ones. These cases are about what the batches hold.
            try FileManager.default.removeItem(atPath: path + "/synced-end")
            let position = try batchPosition(segment, index: testCase.batch)

            for structureOnly in [false, true] {
                let options = structureOnly ? ["--structure-only"] : []
                let expected = structureOnly ? testCase.structureOnlyExpected : testCase.expected
                let ours = try await verdict(path, options)
                #expect(ours.verdict == expected, "log verify \(options): \(ours)")
                if expected != .intact { #expect(ours.file == segment && ours.byteOffset == position, "log verify \(options): \(ours)") }
                let theirs = try await independentVerdict(path, options)
                #expect(theirs.verdict == ours.verdict && theirs.file == ours.file && theirs.byteOffset == ours.byteOffset,
                        "verify_log.py \(options): \(theirs); log verify: \(ours)")
            }
            let dump = try await run(binary, ["log", "dump", path])
            #expect((dump.status != 0) == testCase.dumpFails, "log dump exited \(dump.status): \(dump.output.suffix(300))")
        }
    }

    // MARK: - Helpers

    struct Reported: CustomStringConvertible {
        var verdict: Verdict?
        var file: String?
        var byteOffset: Int64?
        var reason: String?
        var description: String { "\(verdict?.rawValue ?? "?") \(file ?? "-") at \(byteOffset.map(String.init) ?? "-"): \(reason ?? "")" }
    }

    func verdict(_ path: String, _ options: [String]) async throws -> Reported {
        let result = try await run(binary, ["log", "verify", path, "--json"] + options)
        let report = try lastJSONObject(result.output)
        for (key, verdict) in [("problem", Verdict.damaged), ("unfinishedTail", .unfinished)] {
            if let place = report[key] as? [String: Any] {
                return Reported(verdict: verdict, file: place["file"] as? String, byteOffset: (place["byteOffset"] as? NSNumber)?.int64Value, reason: place["reason"] as? String)
            }
        }
        return Reported(verdict: report["intact"] as? Bool == true ? .intact : nil)
    }

    func independentVerdict(_ path: String, _ options: [String]) async throws -> Reported {
        let result = try await run("/usr/bin/env", ["python3", Self.repositoryRoot + "/tools/verify_log.py", path, "--json"] + options)
        let object = try lastJSONObject(result.output)
        return Reported(
            verdict: (object["verdict"] as? String).flatMap(Verdict.init(rawValue:)), file: object["file"] as? String,
            byteOffset: (object["byteOffset"] as? NSNumber)?.int64Value, reason: object["reason"] as? String)
    }

    /// The last line of `output` that is a JSON object (the program's report; messages come before it).
    func lastJSONObject(_ output: String) throws -> [String: Any] {
        let line = output.split(separator: "\n").last { $0.hasPrefix("{") }.map(String.init) ?? "{}"
        return try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
    }

    func run(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        let child = try ChildProcess(executable, arguments)
        let status = await child.wait()
        return (status, child.text)
    }

    /// A log of `count` reservations written by `rananeeti log append`, one per batch.
    func makeLog(_ dir: TemporaryDirectory, count: Int) throws -> String {
        let path = dir.appending("log")
        var samples = SampleReservations(seed: 12)
        let lines = (0..<count).map { _ -> String in
            let r = samples.reservation()
            let object: [String: Any] = ["name": r.name, "people": r.people, "datetime": r.dateTime.description, "notes": r.notes, "testFailures": false]
            return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        }
        let input = dir.appending("input.jsonl")
        try lines.joined(separator: "\n").write(toFile: input, atomically: true, encoding: .utf8)
        _ = try runTool("/bin/sh", ["-c", "'\(binary)' log append '\(path)' --node-id audit --window 1 < '\(input)' >/dev/null 2>&1"])
        return path
    }

    func readBatches(_ path: String) throws -> [Batch] {
        let reader = try LogReader(directory: path)
        var batches: [Batch] = []
        while let records = try reader.nextRecords() {
            let times = records.map { record in
                record.bytes.withUnsafeBytes { RecordEnvelope.appendedAt(inStampedLine: $0, offset: record.offset)! }
            }
            batches.append(Batch(firstOffset: records[0].offset, lines: records.map { Array($0.bytes) }, millis: times.first!...times.last!))
        }
        #expect(batches.count >= 5)
        return batches
    }

    /// Writes the batches as one segment, each hashed and chained to the one before, as a writer would have.
    func writeSegment(_ path: String, _ batches: [Batch]) throws {
        var segment: [UInt8] = []
        var previous = ChainHash.genesis
        for batch in batches {
            let lines: [UInt8] = batch.lines.flatMap { $0 + [0x0A] }
            var single: [UInt8] = []
            _ = lines.withUnsafeBytes {
                BatchFormat.appendBatch(
                    lines: $0, count: batch.lines.count, firstOffset: batch.firstOffset, appendedAtMillis: batch.millis,
                    previousHash: previous, to: &single)
            }
            if let edit = batch.editFrame {
                // Rebuild the batch around the edited frame: new lengths, hash and checksum.
                let frame = edit(Array(single[BatchFormat.framedHeaderLength...]))
                single = reframed(single, frame: frame)
            }
            previous = ChainHash(bytes: Array(single[80..<112]))
            segment += single
        }
        try Data(segment).write(to: URL(fileURLWithPath: path))
    }

    /// The batch `header` (framed, as appendBatch wrote it) around another payload frame.
    func reframed(_ batch: [UInt8], frame: [UInt8]) -> [UInt8] {
        var header = Array(batch[8..<BatchFormat.framedHeaderLength])
        withUnsafeBytes(of: UInt32(frame.count).littleEndian) { header.replaceSubrange(32..<36, with: $0) }
        var hasher = Blake2b(length: 32)
        header.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<72])) }
        frame.withUnsafeBytes { hasher.update($0) }
        header.replaceSubrange(72..<104, with: hasher.finish())
        let checksum = header.withUnsafeBytes { Blake2b.hash(UnsafeRawBufferPointer(rebasing: $0[0..<104]), length: 8) }
        header.replaceSubrange(104..<112, with: checksum)
        return Array(batch[0..<8]) + header + frame
    }

    func batchPosition(_ segment: String, index: Int) throws -> Int64 {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: segment)))
        var position = 0
        for _ in 0..<index {
            let payload = bytes[position + 40..<position + 44].reversed().reduce(0) { $0 << 8 | Int($1) }
            position += BatchFormat.framedHeaderLength + payload
        }
        return Int64(position)
    }
}

/// A line restamped with another `appendedAt`.
func restamped(_ line: [UInt8], millis: Int64) -> [UInt8] {
    let text = String(decoding: line, as: UTF8.self)
    let time = text.range(of: #""appendedAt":"[^"]*""#, options: .regularExpression)!
    return Array(text.replacingCharacters(in: time, with: #""appendedAt":"\#(formatTimestamp(millis: millis))""#).utf8)
}

/// XXH32 with seed 0 (the LZ4 frame descriptor's checksum is its second byte).
func xxh32(_ bytes: some Collection<UInt8>) -> UInt32 {
    let data = Array(bytes)
    let (p1, p2, p3, p4, p5): (UInt32, UInt32, UInt32, UInt32, UInt32) = (2_654_435_761, 2_246_822_519, 3_266_489_917, 668_265_263, 374_761_393)
    func rotl(_ x: UInt32, _ r: UInt32) -> UInt32 { (x << r) | (x >> (32 - r)) }
    func word(_ i: Int) -> UInt32 { data[i..<i + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
    var i = 0
    var h: UInt32
    if data.count >= 16 {
        var v = [p1 &+ p2, p2, 0, 0 &- p1]
        while i + 16 <= data.count {
            for k in 0..<4 { v[k] = rotl(v[k] &+ word(i + 4 * k) &* p2, 13) &* p1 }
            i += 16
        }
        h = rotl(v[0], 1) &+ rotl(v[1], 7) &+ rotl(v[2], 12) &+ rotl(v[3], 18)
    } else {
        h = p5
    }
    h = h &+ UInt32(data.count)
    while i + 4 <= data.count {
        h = rotl(h &+ word(i) &* p3, 17) &* p4
        i += 4
    }
    while i < data.count {
        h = rotl(h &+ UInt32(data[i]) &* p5, 11) &* p1
        i += 1
    }
    h ^= h >> 15
    h = h &* p2
    h ^= h >> 13
    h = h &* p3
    return h ^ (h >> 16)
}
