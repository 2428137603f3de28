import FuzzSupport
import Orders

/// libFuzzer's entry point: the same bytes go to every parser of outside input.
@_cdecl("LLVMFuzzerTestOneInput")
public func requestParserFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    RequestParserFuzzer.run(input)
    return 0
}

/// Feeds arbitrary bytes to the three parsers of outside input: the JSON API body
/// (`Reservation(jsonBody:)`), the website's form (`URLEncodedForm` and `Reservation(form:)`) and the log's
/// event line (`ReservationEvent.decode(line:)`, bookings by signed-in guests and cancellations included).
///
/// Besides "never crash, never hang", every reservation a parser accepts must be one the rules allow
/// (validating it again changes nothing), and must come back unchanged through each way it travels: as an
/// event line in the log, as a JSON body and as a form post written by independent encoders here. Errors
/// must point inside the input.
enum RequestParserFuzzer {
    static func run(_ bytes: [UInt8]) {
        jsonBody(bytes)
        form(bytes)
        eventLine(bytes)
    }

    static func jsonBody(_ bytes: [UInt8]) {
        do {
            checkAccepted(try Reservation(jsonBody: bytes), from: "a JSON body")
        } catch {
            switch error {
            case .malformedJSON(let syntax):
                require((0...bytes.count).contains(syntax.byteOffset), "JSON error at byte \(syntax.byteOffset) of \(bytes.count)")
            case .invalid(let invalid):
                require(!invalid.problems.isEmpty, "a refused body with no problem named")
            }
        }
    }

    static func form(_ bytes: [UInt8]) {
        guard let fields = URLEncodedForm(body: bytes) else { return }
        // Written again with every byte percent-encoded, the body reads back as the same pairs.
        let again = URLEncodedForm(body: encodeForm(fields.pairs))
        require(again.map { $0.pairs.map(\.name) == fields.pairs.map(\.name) && $0.pairs.map(\.value) == fields.pairs.map(\.value) } == true,
                "a form body does not survive encoding")
        let form = ReservationForm(
            name: fields["name"], people: fields["people"], dateTime: fields["datetime"], notes: fields["notes"],
            testFailures: fields["testFailures"])
        do {
            checkAccepted(try Reservation(form: form), from: "a form")
        } catch {
            require(!error.problems.isEmpty, "a refused form with no problem named")
        }
    }

    static func eventLine(_ bytes: [UInt8]) {
        let event: LoggedEvent
        do {
            event = try ReservationEvent.decode(line: bytes)
        } catch {
            require((0...bytes.count).contains(error.byteOffset), "event error at byte \(error.byteOffset) of \(bytes.count)")
            return
        }
        if case .reservationCancelled(let cancellation) = event.kind {
            // Stored clean too: its reason passes the rules again unchanged, and it survives being written again.
            require(
                (try? CancellationEvent(
                    node: cancellation.node, digest: cancellation.digest, by: cancellation.by, role: cancellation.role,
                    reason: cancellation.reason)) == cancellation,
                "a cancellation that validating again changes or refuses")
            let line = stamped(cancellation.encodeRecord(), offset: event.offset, appendedAt: event.appendedAt.text)
            require((try? ReservationEvent.decode(line: line)) == event, "a cancellation does not survive encoding: \(String(decoding: line, as: UTF8.self))")
            return
        }
        guard let accepted = event.reservationEvent else { return }
        // What decodes is stored clean: validating it again changes nothing, and writing it again reads back
        // as the same event.
        checkRevalidates(accepted.reservation, from: "an event line")
        let line = stamped(accepted.encodeRecord(), offset: event.offset, appendedAt: event.appendedAt.text)
        require((try? ReservationEvent.decode(line: line)) == event, "an event does not survive encoding: \(String(decoding: line, as: UTF8.self))")
    }

    // MARK: - Properties of an accepted reservation

    static func checkAccepted(_ reservation: Reservation, from source: String) {
        checkRevalidates(reservation, from: source)
        let digest = reservation.digest.description
        require(digest.utf8.count == 20 && digest.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }, "digest \(digest)")

        // Into the log and back.
        let event = ReservationEvent(node: "fuzz-node", reservation: reservation)
        let record = event.encodeRecord()
        require(record.first == UInt8(ascii: "{") && record.last == UInt8(ascii: "}") && !record.contains(0x0A) && !record.contains(0x0D),
                "an event record the log would refuse")
        let decoded = try? ReservationEvent.decode(line: stamped(record, offset: 7, appendedAt: "2026-11-29T03:06:17.123Z"))
        require(decoded?.reservationEvent == event, "\(source): the event does not survive the log")
        require(decoded?.reservationEvent?.digestMatchesReservation == true, "\(source): the digest changed in the log")

        // As a JSON body and as a form post, written independently of the product's writers.
        require((try? Reservation(jsonBody: encodeJSONBody(reservation))) == reservation, "\(source): does not survive a JSON body")
        var pairs = [
            ("name", reservation.name), ("people", String(reservation.people)),
            ("datetime", reservation.dateTime.description), ("notes", reservation.notes),
        ]
        if reservation.testFailures { pairs.append(("testFailures", "on")) }
        let fields = URLEncodedForm(body: encodeForm(pairs))
        let form = ReservationForm(
            name: fields?["name"], people: fields?["people"], dateTime: fields?["datetime"], notes: fields?["notes"],
            testFailures: fields?["testFailures"])
        require((try? Reservation(form: form)) == reservation, "\(source): does not survive a form post")
    }

    static func checkRevalidates(_ reservation: Reservation, from source: String) {
        let again = try? Reservation(
            name: reservation.name, people: reservation.people, dateTime: reservation.dateTime,
            notes: reservation.notes, testFailures: reservation.testFailures)
        require(again == reservation, "\(source): a reservation that validating again changes or refuses")
        require((1...40).contains(reservation.name.unicodeScalars.count), "\(source): name of \(reservation.name.unicodeScalars.count) scalars")
        require(reservation.notes.unicodeScalars.count <= 200, "\(source): notes of \(reservation.notes.unicodeScalars.count) scalars")
        require((1...9999).contains(reservation.people), "\(source): \(reservation.people) people")
    }

    // MARK: - Independent encoders

    static func stamped(_ record: [UInt8], offset: UInt64, appendedAt: String) -> [UInt8] {
        Array(#"{"offset":\#(offset),"appendedAt":"\#(appendedAt)","#.utf8) + record.dropFirst()
    }

    /// A JSON string literal: quotes, backslashes and every control character escaped as `\u00XX`.
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func encodeJSONBody(_ reservation: Reservation) -> [UInt8] {
        Array(
            """
            {"name": \(jsonString(reservation.name)), "people": \(reservation.people), \
            "datetime": "\(reservation.dateTime)", "notes": \(jsonString(reservation.notes)), \
            "testFailures": \(reservation.testFailures)}
            """.utf8)
    }

    /// A form body with every byte of every name and value percent-encoded.
    static func encodeForm(_ pairs: [(String, String)]) -> [UInt8] {
        let hex = Array("0123456789ABCDEF".utf8)
        func encode(_ text: String) -> [UInt8] {
            text.utf8.flatMap { [UInt8(ascii: "%"), hex[Int($0 >> 4)], hex[Int($0 & 0x0F)]] }
        }
        var body: [UInt8] = []
        for (index, (name, value)) in pairs.enumerated() {
            if index > 0 { body.append(UInt8(ascii: "&")) }
            body += encode(name) + [UInt8(ascii: "=")] + encode(value)
        }
        return body
    }
}
