/// Why a JSON API body is not a reservation.
public enum ReservationRequestError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The body is not a JSON object; nothing in it was looked at. Typically 400 Bad Request.
    case malformedJSON(JSONSyntaxError)
    /// The body is a JSON object, but fields are missing, unknown, repeated, of the wrong
    /// type or against the rules. Typically 422 Unprocessable Content.
    case invalid(ReservationValidationError)

    public var description: String {
        switch self {
        case .malformedJSON(let error): error.description
        case .invalid(let error): error.description
        }
    }
}

extension Reservation {
    /// Reads and validates a reservation sent to the JSON API.
    ///
    /// The body is one JSON object:
    ///
    ///     {"name": "Bob", "people": 2, "datetime": "2020-11-16T20:00",
    ///      "notes": "window seat", "testFailures": false}
    ///
    /// `name`, `people` (an integer; `2.0` and `2e0` are 2, as in JSON's data model) and `datetime` (a
    /// string as for the form) are
    /// required; `notes` may be absent, null or a string; `testFailures` may be absent
    /// (false) or a boolean. Any other field, or a field given twice, is refused. Texts are
    /// trimmed and normalised as for the form.
    ///
    /// - Parameter jsonBody: the request body, UTF-8.
    /// - Throws: ``ReservationRequestError/malformedJSON(_:)`` with the byte position for
    ///   a body that is not a JSON object, else ``ReservationRequestError/invalid(_:)`` with
    ///   every field problem.
    public init(jsonBody: some Collection<UInt8>) throws(ReservationRequestError) {
        self = try withContiguousBytes(of: jsonBody) { bytes throws(ReservationRequestError) in
            try Self.read(jsonBody: bytes)
        }
    }

    /// The fields of a body, in the order of ``bodyFieldNames``.
    private enum BodyField: Int, CaseIterable {
        case name, people, dateTime, notes, testFailures
    }

    private static let bodyFieldNames: [StaticString] = ["name", "people", "datetime", "notes", "testFailures"]

    private static func read(
        jsonBody bytes: UnsafeBufferPointer<UInt8>
    ) throws(ReservationRequestError) -> Reservation {
        typealias Message = ReservationRules.Message
        var draft = ReservationDraft()
        var seen = [Bool](repeating: false, count: bodyFieldNames.count)
        do throws(JSONSyntaxError) {
            var reader = try JSONObjectReader(bytes: bytes)
            while let field = try reader.nextField() {
                guard let index = reader.index(of: field.name, in: bodyFieldNames) else {
                    let name = ReservationField(rawValue: reader.decodeString(field.name))
                    let message = "unknown field \(reader.quotedForMessage(field.name))"
                    draft.otherProblems.append(.init(field: name, message: message))
                    continue
                }
                guard !seen[index] else {
                    let name = ReservationField(rawValue: reader.decodeString(field.name))
                    let message = "duplicate field \(reader.quotedForMessage(field.name))"
                    draft.otherProblems.append(.init(field: name, message: message))
                    continue
                }
                seen[index] = true
                switch (BodyField(rawValue: index)!, field.value) {
                case (.name, .string(let text)): draft.name = ReservationRules.name(reader.decodeString(text))
                case (.name, _): draft.name = .invalid(Message.nameNotString)
                // 2.0 and 2e0 are the number 2 in JSON's data model (and in JSON Schema's `integer`).
                case (.people, .integer(let integer)), (.people, .nonIntegerNumber(whole: let integer?)):
                    draft.people =
                        integer.isNegative || integer.magnitude > UInt64(ReservationRules.peopleRange.upperBound)
                        ? .invalid(Message.peopleInvalid) : ReservationRules.people(Int(integer.magnitude))
                case (.people, .nonIntegerNumber): draft.people = .invalid(Message.peopleInvalid)
                case (.people, _): draft.people = .invalid(Message.peopleNotNumber)
                case (.dateTime, .string(let text)):
                    draft.dateTime = ReservationRules.dateTime(text: reader.decodeString(text))
                case (.dateTime, _): draft.dateTime = .invalid(Message.dateTimeNotString)
                case (.notes, .string(let text)): draft.notes = ReservationRules.notes(reader.decodeString(text))
                case (.notes, .null): draft.notes = .valid("")
                case (.notes, _): draft.notes = .invalid(Message.notesNotString)
                case (.testFailures, .bool(let value)): draft.testFailures = .valid(value)
                case (.testFailures, _): draft.testFailures = .invalid(Message.testFailuresNotBool)
                }
            }
        } catch {
            throw .malformedJSON(error)
        }
        do {
            return try draft.reservation()
        } catch {
            throw .invalid(error)
        }
    }
}
