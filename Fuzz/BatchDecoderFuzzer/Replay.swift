#if !FUZZING
import EventLog
import FuzzSupport
import Glibc

/// Without libFuzzer (a normal `swift build`), the target replays inputs instead of generating them:
///
///     BatchDecoderFuzzer FILE|DIR…               run each input once (the corpus, a crash file)
///     BatchDecoderFuzzer --write-seeds DIR        write the seed corpus: segments of a small real log,
///                                                 torn and damaged variants, and an index file
@main
struct BatchDecoderReplay {
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "--write-seeds", arguments.count == 2 {
            await SeedWriter.write(to: arguments[1])
            exit(0)
        }
        arguments.removeAll { $0.hasPrefix("-") }  // libFuzzer options, when a script passes them
        exit(replay(arguments: arguments, body: BatchDecoderFuzzer.run))
    }
}

/// The seed corpus: real bytes written by the real writer, then cut, extended and damaged the ways a crash
/// or a disk can. Deterministic: a fixed clock and fixed records.
enum SeedWriter {
    static func write(to corpus: String) async {
        mkdir(corpus, 0o755)
        let scratch = makeScratchDirectory(label: "fuzz-seeds")
        defer { removeTree(scratch) }

        // One segment: single records, a batch of three, a record with non-ASCII text, an empty object.
        let small = scratch + "/small"
        var records: [[[UInt8]]] = [
            [record(0, notes: "window seat")], [record(1, notes: "caf\u{e9} \u{1F382}")],
            [record(2, notes: ""), record(3, notes: "a"), record(4, notes: "b")], [Array("{}".utf8)],
            [record(5, notes: String(repeating: "long notes ", count: 12))],
        ]
        await writeLog(small, records: records, configuration: EventLogConfiguration(clockMillis: { 1_764_385_577_123 }))
        let segment = readWholeFile(small + "/" + BatchDecoderFuzzer.segmentName)!
        let batches = batchStarts(segment)

        func seed(_ name: String, _ control: UInt8, _ bytes: some Collection<UInt8>) {
            writeWholeFile(corpus + "/seed-" + name, [control] + Array(bytes))
        }
        seed("segment", 0, segment)
        seed("segment-checksums-fixed", 1, segment)
        seed("segment-hashes-fixed", 2, segment)
        seed("segment-chained", 3, segment)
        seed("empty", 0, [])
        seed("torn-in-last-header", 0, segment[0..<(batches.last! + 40)])
        seed("torn-in-last-payload", 0, segment[0..<(segment.count - 7)])
        seed("torn-after-magic", 0, segment[0..<(batches.last! + 4)])
        seed("garbage-tail", 0, segment + (0..<61).map { UInt8(truncatingIfNeeded: $0 &* 73 &+ 11) })
        seed("zero-tail", 0, segment + [UInt8](repeating: 0, count: 4096))
        var flippedLastHash = segment
        flippedLastHash[batches.last! + 8 + 72] ^= 0x01
        seed("last-batch-hash-flipped", 0, flippedLastHash)
        var flippedPayload = segment
        flippedPayload[batches[1] + 130] ^= 0x20
        seed("middle-payload-flipped", 0, flippedPayload)
        var flippedHeader = segment
        flippedHeader[batches[2] + 8 + 4] ^= 0x02
        seed("middle-header-flipped", 0, flippedHeader)
        seed("batch-repeated", 0, segment + segment[batches[0]..<batches[1]])
        seed("batch-missing", 0, segment[0..<batches[1]] + segment[batches[2]...])

        // A record larger than an LZ4 block (64 KiB), so that its frame has several blocks.
        let large = scratch + "/large"
        records = [[record(6, notes: "x")], [Array(("{\"blob\":\"" + String(repeating: "0123456789abcdef", count: 4500) + "\"}").utf8)]]
        await writeLog(large, records: records, configuration: EventLogConfiguration(clockMillis: { 1_764_385_577_123 }))
        seed("multi-block-chained", 3, readWholeFile(large + "/" + BatchDecoderFuzzer.segmentName)!)

        // Logs that start near the end of the offsets (named by their first batch: bit 3): one batch that
        // ends at 2^64 - 1, and one with more lines than its header counts.
        seed("last-offsets", 0b1000, highOffsetSegment(lineCount: 1))
        seed("last-offsets-extra-lines", 0b1000, highOffsetSegment(lineCount: 3))

        // Small segments, so that sealed ones get an index.
        let rolled = scratch + "/rolled"
        records = (0..<12).map { [record($0, notes: "rolled")] }
        await writeLog(
            rolled, records: records,
            configuration: EventLogConfiguration(segmentSizeLimit: 900, clockMillis: { 1_764_385_577_123 }))
        if let index = listDirectory(rolled).first(where: { $0.hasSuffix(".idx") }) {
            let bytes = readWholeFile(rolled + "/" + index)!
            seed("index", 4, bytes)
            seed("index-checksum-fixed", 5, bytes)
            seed("index-count-fixed", 6, bytes)
        }
        print("wrote the seed corpus to \(corpus)")
    }

    /// One batch at offset 2^64 - 2 whose header counts one record, holding `lineCount` stamped lines.
    static func highOffsetSegment(lineCount: Int) -> [UInt8] {
        let first = UInt64.max - 1
        var lines: [UInt8] = []
        for i in 0..<UInt64(lineCount) {
            lines += Array(#"{"offset":\#(first &+ i),"appendedAt":"2026-11-29T03:06:17.123Z","type":"edge"}"#.utf8) + [0x0A]
        }
        var segment: [UInt8] = []
        _ = lines.withUnsafeBytes { raw in
            BatchFormat.appendBatch(
                lines: raw, count: 1, firstOffset: first, appendedAtMillis: 1_764_385_577_123...1_764_385_577_123,
                previousHash: .genesis, to: &segment)
        }
        return segment
    }

    static func record(_ n: Int, notes: String) -> [UInt8] {
        let names = ["Bob", "Ana Mar\u{ed}a", "Zo\u{eb}", "O'Brien", "Ravi \\\"RJ\\\" Joshi"]
        let digest = String(String(UInt64(n) &* 2_654_435_761, radix: 16).reversed()).padding(toLength: 20, withPad: "0", startingAt: 0)
        return Array(#"{"type":"reservation.accepted","node":"node-a","digest":"\#(digest)","name":"\#(names[n % names.count])","people":\#(n % 12 + 1),"datetime":"2026-12-\#(10 + n % 18)T19:30","notes":"\#(notes)","testFailures":false}"#.utf8)
    }

    static func writeLog(_ directory: String, records: [[[UInt8]]], configuration: EventLogConfiguration) async {
        do {
            let log = try EventLog(directory: directory, configuration: configuration)
            for group in records { _ = try await log.append(contentsOf: group) }
            await log.close()
        } catch {
            fatalError("writing the seed log failed: \(error)")
        }
    }

    /// Where each batch starts, from a walk over the headers.
    static func batchStarts(_ segment: [UInt8]) -> [Int] {
        var starts: [Int] = []
        var position = 0
        while let header = Oracle.header(in: segment, at: position) {
            starts.append(position)
            position = header.end
        }
        return starts
    }
}

extension String {
    fileprivate func padding(toLength length: Int, withPad pad: String, startingAt: Int) -> String {
        count >= length ? String(prefix(length)) : self + String(repeating: pad, count: length - count)
    }
}
#endif
