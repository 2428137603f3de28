import Orders
import Testing

@Suite("Reservation digest")
struct ReservationDigestTests {
    @Test("matches the vectors of DESIGN.md")
    func vectors() throws {
        #expect(Fixtures.bob.digest.description == "2e401f4cba1d2e90f354")
        let ticked = try Reservation(
            name: "Bob",
            people: 2,
            dateTime: Fixtures.dateTime,
            notes: "window seat, café",
            testFailures: true
        )
        #expect(ticked.digest.description == "8a2f1dbfc18c8f751533")
    }

    @Test("hashes the old site's form JSON, written as json.dumps writes it")
    func legacyJSON() {
        let json = String(decoding: LegacyForm(Fixtures.bob).json(), as: UTF8.self)
        #expect(
            json == #"{"Name": "Bob", "People": "2", "date": "2020-11-16T20:00", "Message": "window seat, caf\u00e9"}"#
        )
        let ticked = LegacyForm(name: "", people: "", date: "", message: "", emulate: true)
        #expect(
            String(decoding: ticked.json(), as: UTF8.self)
                == #"{"Name": "", "People": "", "date": "", "Message": "", "Emulate": "on"}"#
        )
    }

    @Test("escapes like Python's ensure_ascii")
    func pythonEscapes() {
        let form = LegacyForm(
            name: "\u{7F}\u{0}\u{1F}\u{2028}😀\"\\/\u{8}\u{C}\n\r\té",
            people: "",
            date: "",
            message: "",
            emulate: false
        )
        let json = String(decoding: form.json(), as: UTF8.self)
        #expect(json.hasPrefix(#"{"Name": "\u007f\u0000\u001f\u2028\ud83d\ude00\"\\/\b\f\n\r\t\u00e9", "People""#))
    }

    @Test("is computed over the trimmed, normalised reservation")
    func normalisedInput() throws {
        let sloppy = try Reservation(
            form: .init(name: "  Bob ", people: "02", dateTime: "2020-11-16T20:00:00", notes: "window seat, café\r\n")
        )
        #expect(sloppy.digest == Fixtures.bob.digest)
        let multiLine = try Reservation(
            form: .init(name: "Bob", people: "2", dateTime: "2020-11-16T20:00", notes: "a\r\nb")
        )
        #expect(
            multiLine.digest
                == ReservationDigest(
                    of: LegacyForm(name: "Bob", people: "2", date: "2020-11-16T20:00", message: "a\nb", emulate: false)
                )
        )
    }

    @Test("reads back the 20 lowercase hex digits it prints, and only those")
    func hexText() throws {
        let digest = try #require(ReservationDigest("2e401f4cba1d2e90f354"))
        #expect(digest == Fixtures.bob.digest)
        #expect(digest.description == "2e401f4cba1d2e90f354")
        #expect(digest.bytes == [0x2e, 0x40, 0x1f, 0x4c, 0xba, 0x1d, 0x2e, 0x90, 0xf3, 0x54])
        #expect(ReservationDigest(bytes: digest.bytes) == digest)
        for text in [
            "", "2e401f4cba1d2e90f35", "2e401f4cba1d2e90f3540", "2E401F4CBA1D2E90F354", "2e401f4cba1d2e90f35g",
            " 2e401f4cba1d2e90f354", "2e401f4cba1d2e90f35\u{0}", "２e401f4cba1d2e90f354", "2e401f4cba1d2e90f3é",
        ] {
            #expect(ReservationDigest(text) == nil, "\(text) should not parse")
        }
        for text in ["00000000000000000000", "ffffffffffffffffffff", "0123456789abcdef0123"] {
            #expect(ReservationDigest(text)?.description == text)
        }
    }

    @Test("orders by its bytes")
    func ordering() throws {
        let texts = ["00000000000000000000", "0000000000000000ffff", "00000000000000010000", "ffffffffffffffff0000"]
        let digests = try texts.map { try #require(ReservationDigest($0)) }
        #expect(digests.reversed().sorted() == digests)
    }
}
