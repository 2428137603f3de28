import Foundation
import Testing

import EventLog
import Orders
import TestSupport

/// The auditors' commands on real logs: dump (JSON lines and CSV), verify's exit statuses, stats.
@Suite("Log commands", .timeLimit(.minutes(5)))
struct LogCommandTests {
    let binary: String

    init() throws {
        binary = try BuiltProducts.executable("rananeeti")
    }

    func rananeeti(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let child = try ChildProcess(binary, arguments)
        let status = await child.wait()
        return (status, child.text)
    }

    /// A log of `count` reservations written by `rananeeti log append`.
    func makeLog(_ dir: TemporaryDirectory, count: Int, oneRecordPerBatch: Bool = false) throws -> String {
        let path = dir.appending("log")
        var samples = SampleReservations(seed: 99)
        let lines = (0..<count).map { n -> String in
            let r = samples.reservation()
            let object: [String: Any] = ["name": r.name, "people": r.people, "datetime": r.dateTime.description, "notes": r.notes + (n % 5 == 0 ? ", with a comma and \"quotes\"\nand a line" : "")]
            return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        }
        let input = dir.appending("input.jsonl")
        try lines.joined(separator: "\n").write(toFile: input, atomically: true, encoding: .utf8)
        let window = oneRecordPerBatch ? "--window 1" : ""
        _ = try runTool("/bin/sh", ["-c", "'\(binary)' log append '\(path)' --node-id audit \(window) < '\(input)' >/dev/null 2>&1"])
        return path
    }

    @Test("who booked and who cancelled: dump shows them, in JSON and CSV; verify passes the new types")
    func guestEvents() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir.appending("log")
            let gina = GuestIdentity(issuer: "https://id.example", subject: "guest-0001")!
            let reservation = try Reservation(name: "Gina, \"G\"", people: 2, dateTime: LocalDateTime("2031-01-02T19:00")!)
            let booked = ReservationEvent(node: "audit", reservation: reservation, guest: gina)
            let cancelled = try CancellationEvent(node: "audit", digest: booked.digest, by: gina, role: .guest, reason: "ill, sorry")
            let log = try EventLog(directory: path)
            _ = try await log.append(contentsOf: [booked.encodeRecord(), cancelled.encodeRecord()])
            await log.close()

            let json = try await rananeeti(["log", "dump", path])
            #expect(json.status == 0)
            #expect(json.output.contains(#""type":"reservation.accepted.v2""#) && json.output.contains(#""guestSubject":"guest-0001""#))
            #expect(json.output.contains(#""type":"reservation.cancelled""#) && json.output.contains(#""reason":"ill, sorry""#))
            let csv = try await rananeeti(["log", "dump", path, "--format", "csv"])
            let lines = csv.output.split(separator: "\r\n").map(String.init)
            #expect(lines.first?.hasSuffix(",guest,role,reason") == true)
            #expect(lines.count == 3)
            #expect(lines[1].contains("reservation.accepted.v2") && lines[1].hasSuffix(",guest-0001@https://id.example,,"))
            #expect(lines[2].contains("reservation.cancelled") && lines[2].hasSuffix(#",guest-0001@https://id.example,guest,"ill, sorry""#))
            let verify = try await rananeeti(["log", "verify", path])
            #expect(verify.status == 0, "\(verify.output)")
        }
    }

    @Test("dump prints exactly what the stock lz4 tool prints; --from/--to bound it; CSV parses and matches")
    func dump() async throws {
        try await withTemporaryDirectory { dir in
            let path = try makeLog(dir, count: 60)
            let all = try await rananeeti(["log", "dump", path])
            #expect(all.status == 0)
            let stock = try runTool("/bin/sh", ["-c", "lz4 -dc '\(path)'/00000000000000000000.lz4"])
            #expect(all.output == stock)

            let part = try await rananeeti(["log", "dump", path, "--from", "10", "--to", "19"])
            let offsets = part.output.split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["offset"] as? Int
            }
            #expect(offsets == Array(10...19))

            let csv = try await rananeeti(["log", "dump", path, "--format", "csv"])
            #expect(csv.status == 0)
            try csv.output.write(toFile: dir.appending("dump.csv"), atomically: true, encoding: .utf8)
            try all.output.write(toFile: dir.appending("all.jsonl"), atomically: true, encoding: .utf8)
            let check = try runTool(
                "/usr/bin/env",
                ["python3", "-c", """
                import csv, json, sys
                rows = list(csv.DictReader(open(sys.argv[1], newline='')))
                lines = [json.loads(l) for l in open(sys.argv[2])]
                assert len(rows) == len(lines) == 60, (len(rows), len(lines))
                for row, line in zip(rows, lines):
                    for key in ('digest', 'name', 'notes', 'datetime'):
                        assert row[key] == str(line[key]), (key, row[key], line[key])
                    assert int(row['offset']) == line['offset'] and int(row['people']) == line['people']
                print('csv matches')
                """, dir.appending("dump.csv"), dir.appending("all.jsonl")])
            #expect(check.contains("csv matches"))
        }
    }

    @Test("verify exits 0 on an intact log, 3 on an unfinished last batch, 1 on damage, naming the place")
    func verifyStatuses() async throws {
        try await withTemporaryDirectory { dir in
            // One record per batch, so that the damage below is in an earlier batch, not the last one (a last
            // batch that fails its hash is an unfinished write, exit status 3).
            let path = try makeLog(dir, count: 30, oneRecordPerBatch: true)
            let segment = path + "/00000000000000000000.lz4"
            let intact = try await rananeeti(["log", "verify", path])
            #expect(intact.status == 0)
            #expect(intact.output.contains("OK: 1 segment(s), 30 record(s)"))

            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: segment)))
            // A write torn by a crash before the writer recorded it as synced: without the record.
            let syncedEnd = path + "/synced-end"
            #expect(FileManager.default.fileExists(atPath: syncedEnd), "a closed log records how far it synced")
            try FileManager.default.removeItem(atPath: syncedEnd)
            try Data(bytes.dropLast(7)).write(to: URL(fileURLWithPath: segment))
            let torn = try await rananeeti(["log", "verify", path])
            #expect(torn.status == 3, "\(torn.output)")
            #expect(torn.output.contains("unfinished"))

            bytes[200] ^= 0x20
            try Data(bytes).write(to: URL(fileURLWithPath: segment))
            let damaged = try await rananeeti(["log", "verify", path, "--json"])
            #expect(damaged.status == 1)
            let report = try #require(try JSONSerialization.jsonObject(with: Data(damaged.output.utf8)) as? [String: Any])
            let problem = try #require(report["problem"] as? [String: Any])
            #expect(problem["file"] as? String == segment)
            #expect(problem["byteOffset"] as? Int == 0)
        }
    }

    @Test("--segment-bytes (or RANANEETI_SEGMENT_BYTES) makes a log of many segments that both verifiers accept; too small is refused")
    func segmentBytes() async throws {
        try await withTemporaryDirectory { dir in
            let input = dir.appending("input.jsonl")
            var samples = SampleReservations(seed: 5)
            let lines = (0..<200).map { _ -> String in
                let r = samples.reservation()
                let object: [String: Any] = ["name": r.name, "people": r.people, "datetime": r.dateTime.description, "notes": r.notes]
                return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
            }
            try lines.joined(separator: "\n").write(toFile: input, atomically: true, encoding: .utf8)
            let flag = dir.appending("flag")
            _ = try runTool("/bin/sh", ["-c", "'\(binary)' log append '\(flag)' --node-id seg --window 1 --segment-bytes 4096 < '\(input)' >/dev/null 2>&1"])
            let environment = dir.appending("environment")
            _ = try runTool("/bin/sh", ["-c", "RANANEETI_SEGMENT_BYTES=4096 '\(binary)' log append '\(environment)' --node-id seg --window 1 < '\(input)' >/dev/null 2>&1"])
            for log in [flag, environment] {
                let segments = try FileManager.default.contentsOfDirectory(atPath: log).filter { $0.hasSuffix(".lz4") }
                #expect(segments.count >= 5, "\(log): \(segments.count) segments")
                #expect(try await rananeeti(["log", "verify", log]).status == 0)
                _ = try runTool("/usr/bin/env", ["python3", VerifyAgreementTests.repositoryRoot + "/tools/verify_log.py", log])
            }
            let refused = try await rananeeti(["log", "append", dir.appending("small"), "--segment-bytes", "100"])
            #expect(refused.status != 0 && refused.output.contains("at least 4096"), "\(refused.output)")
        }
    }

    @Test("stats and a missing directory")
    func statsAndMissing() async throws {
        try await withTemporaryDirectory { dir in
            let path = try makeLog(dir, count: 25)
            let stats = try await rananeeti(["log", "stats", path, "--json"])
            #expect(stats.status == 0)
            let figures = try #require(try JSONSerialization.jsonObject(with: Data(stats.output.utf8)) as? [String: Any])
            #expect(figures["records"] as? Int == 25)
            #expect((figures["bytesOnDisk"] as? Int ?? 0) > 0)
            let missing = try await rananeeti(["log", "verify", dir.appending("nowhere")])
            #expect(missing.status == 1)
            #expect(missing.output.contains("does not exist"))
        }
    }
}
