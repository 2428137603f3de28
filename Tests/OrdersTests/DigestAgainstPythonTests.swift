import Foundation
import Orders
import Testing
import TestSupport

/// Compares the digest with the reference: Python's own `json.dumps` and `hashlib.blake2b`,
/// run as a child process over a few thousand random forms.
@Suite("Digest against Python")
struct DigestAgainstPythonTests {
    /// Reads one form per line (each field as hex of its UTF-8, so that no escaping is
    /// shared with the code under test; `-` for an empty field, which split() would lose)
    /// and writes `hex(json.dumps(form)) digest` per line.
    static let script = #"""
        import hashlib, json, sys
        with open(sys.argv[1]) as source, open(sys.argv[2], "w") as target:
            for line in source:
                name, people, date, message, emulate = line.split()
                text = lambda field: bytes.fromhex("" if field == "-" else field).decode("utf-8")
                form = {"Name": text(name), "People": text(people), "date": text(date), "Message": text(message)}
                if emulate == "1":
                    form["Emulate"] = "on"
                dumped = json.dumps(form).encode("utf-8")
                print(dumped.hex(), hashlib.blake2b(dumped, digest_size=10).hexdigest(), file=target)
        """#

    @Test("agrees with json.dumps and hashlib.blake2b on random and hostile text")
    func agreesWithPython() throws {
        var generator = SeededRandom(seed: 20_201_116)
        var forms: [LegacyForm] = [
            LegacyForm(Fixtures.bob),
            LegacyForm(name: "", people: "", date: "", message: "", emulate: true),
        ]
        // Any text at all: the old site hashed whatever was posted.
        for _ in 0..<3000 {
            forms.append(
                LegacyForm(
                    name: HostileText.random(maximumLength: 50, using: &generator),
                    people: Bool.random(using: &generator)
                        ? String(Int.random(in: -5...20_000, using: &generator))
                        : HostileText.random(maximumLength: 6, using: &generator),
                    date: HostileText.random(maximumLength: 20, using: &generator),
                    message: HostileText.random(maximumLength: 250, using: &generator),
                    emulate: Bool.random(using: &generator)
                )
            )
        }
        // And the forms of valid reservations, whose digest is what the service stores.
        var reservations: [Reservation] = []
        while reservations.count < 1000 {
            if let reservation = Fixtures.randomReservation(using: &generator) { reservations.append(reservation) }
        }
        forms += reservations.map(LegacyForm.init)

        let results = try Self.runPython(on: forms)
        try #require(results.count == forms.count)
        var mismatches = 0
        for (form, (json, digest)) in zip(forms, results) {
            let swiftJSON = String(decoding: form.json(), as: UTF8.self)
            let swiftDigest = ReservationDigest(of: form).description
            if swiftJSON != json || swiftDigest != digest {
                mismatches += 1
                if mismatches <= 5 {
                    Issue.record("\(form): Swift \(swiftJSON) \(swiftDigest), Python \(json) \(digest)")
                }
            }
        }
        #expect(mismatches == 0)
        for (reservation, (_, digest)) in zip(reservations, results.suffix(reservations.count)) {
            #expect(reservation.digest.description == digest)
        }
    }

    /// The UTF-8 of `text` in hex, or `-` when it is empty.
    static func hex(_ text: String) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        for byte in text.utf8 {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0xF)])
        }
        return hex.isEmpty ? "-" : String(decoding: hex, as: UTF8.self)
    }

    static func runPython(on forms: [LegacyForm]) throws -> [(json: String, digest: String)] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("orders-digest-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("forms.txt")
        let output = directory.appendingPathComponent("digests.txt")

        let lines = forms.map { form in
            [hex(form.name), hex(form.people), hex(form.date), hex(form.message), form.emulate ? "1" : "0"]
                .joined(separator: " ")
        }
        try (lines.joined(separator: "\n") + "\n").write(to: input, atomically: true, encoding: .utf8)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-c", script, input.path, output.path,
        ]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "python3 failed")

        return try String(contentsOf: output, encoding: .utf8).split(separator: "\n").map { line in
            let parts = line.split(separator: " ")
            let json = String(decoding: Array(hexBytes: parts[0]), as: UTF8.self)
            return (json, String(parts[1]))
        }
    }
}

extension Array where Element == UInt8 {
    fileprivate init(hexBytes text: Substring) {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        self = bytes
    }
}
