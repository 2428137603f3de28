extension ReservationEvent {
    /// Decodes one line of the log: an event record with the log's `offset` and
    /// `appendedAt` in front.
    ///
    ///     {"offset":42,"appendedAt":"2026-11-29T03:06:17.123Z","type":"reservation.accepted","node":"node-a",...}
    ///
    /// Decoding is strict, because the log is written only by this program: the line must
    /// be one JSON object (JSON whitespace around it is allowed, so a trailing line feed is
    /// fine), fields may come in any order but each exactly once, and a record of a known
    /// type (`reservation.accepted`, `reservation.accepted.v2`, `reservation.cancelled`) must
    /// have all its fields, no others, and values that are valid *as stored* (trimmed and
    /// normalised). The stored digest is kept, not recomputed: see ``digestMatchesReservation``.
    ///
    /// A line of any other `type` is not an error: it decodes as
    /// ``LoggedEvent/Kind/unknown(type:)`` with its offset and time, its other fields
    /// checked for JSON syntax only.
    ///
    /// - Parameter line: the bytes of one line, UTF-8.
    /// - Returns: the stamp and the event.
    /// - Throws: ``EventDecodingError`` with the byte offset of the first problem.
    public static func decode(line: UnsafeRawBufferPointer) throws(EventDecodingError) -> LoggedEvent {
        try line.withMemoryRebound(to: UInt8.self) { bytes throws(EventDecodingError) in
            try EventLineDecoder.decode(bytes)
        }
    }

    /// ``decode(line:)`` for any collection of bytes, e.g. `[UInt8]` or `ArraySlice<UInt8>`
    /// (read in place when they are contiguous).
    public static func decode(line: some Collection<UInt8>) throws(EventDecodingError) -> LoggedEvent {
        try withContiguousBytes(of: line) { bytes throws(EventDecodingError) in
            try EventLineDecoder.decode(bytes)
        }
    }
}

/// Reads the fields of one stamped event line and interprets them.
private struct EventLineDecoder {
    /// Every field name an event line of a known type may have.
    enum FieldName: Int, CaseIterable {
        case offset, appendedAt, type, node, digest, name, people, dateTime, notes, testFailures
        case guestIssuer, guestSubject
        case byIssuer, bySubject, byRole, reason

        static let count = 16

        var text: StaticString {
            switch self {
            case .offset: "offset"
            case .appendedAt: "appendedAt"
            case .type: "type"
            case .node: "node"
            case .digest: "digest"
            case .name: "name"
            case .people: "people"
            case .dateTime: "datetime"
            case .notes: "notes"
            case .testFailures: "testFailures"
            case .guestIssuer: "guestIssuer"
            case .guestSubject: "guestSubject"
            case .byIssuer: "byIssuer"
            case .bySubject: "bySubject"
            case .byRole: "byRole"
            case .reason: "reason"
            }
        }

        /// The fields of each known type: all required, no others allowed.
        static let reservationAccepted: [FieldName] = [
            .offset, .appendedAt, .type, .node, .digest, .name, .people, .dateTime, .notes, .testFailures,
        ]
        static let reservationAcceptedWithGuest = reservationAccepted + [.guestIssuer, .guestSubject]
        static let reservationCancelled: [FieldName] = [
            .offset, .appendedAt, .type, .node, .digest, .byIssuer, .bySubject, .byRole, .reason,
        ]

        /// The field `token` names, or nil for a name this version does not know.
        ///
        /// `expected` is tried first: records are written in one order, so guessing the
        /// field after the previous one makes the common case a single comparison.
        static func named(
            _ token: JSONString,
            expecting expected: FieldName?,
            in reader: JSONObjectReader
        ) -> FieldName? {
            if let expected, reader.string(token, equals: expected.text) { return expected }
            for rawValue in 0..<count {
                let name = FieldName(rawValue: rawValue)!
                if reader.string(token, equals: name.text) { return name }
            }
            return nil
        }
    }

    private static let reservationAcceptedType: StaticString = "reservation.accepted"
    private static let reservationAcceptedWithGuestType: StaticString = "reservation.accepted.v2"
    private static let reservationCancelledType: StaticString = "reservation.cancelled"

    private let reader: JSONObjectReader
    private var found = FoundFields()
    /// The first field of a name this version does not know, fatal only for known types.
    private var firstUnknownField: JSONField?
    /// The first repetition of a known field name.
    private var firstDuplicateField: JSONField?

    static func decode(_ bytes: UnsafeBufferPointer<UInt8>) throws(EventDecodingError) -> LoggedEvent {
        let decoder: EventLineDecoder
        do {
            decoder = try EventLineDecoder(bytes: bytes)
        } catch {
            throw EventDecodingError(error)
        }
        return try decoder.interpret()
    }

    private init(bytes: UnsafeBufferPointer<UInt8>) throws(JSONSyntaxError) {
        var reader = try JSONObjectReader(bytes: bytes)
        var expected = FieldName.offset as FieldName?
        while let field = try reader.nextField() {
            guard let name = FieldName.named(field.name, expecting: expected, in: reader) else {
                if firstUnknownField == nil { firstUnknownField = field }
                continue
            }
            expected = FieldName(rawValue: name.rawValue + 1)
            if found[name] == nil {
                found[name] = field
            } else if firstDuplicateField == nil {
                firstDuplicateField = field
            }
        }
        self.reader = reader
    }

    private func interpret() throws(EventDecodingError) -> LoggedEvent {
        if let duplicate = firstDuplicateField {
            throw EventDecodingError(
                at: duplicate.nameOffset,
                "duplicate field \(reader.quotedForMessage(duplicate.name))"
            )
        }
        let offset = try required(.offset)
        guard case .integer(let offsetValue) = offset.value, !offsetValue.isNegative else {
            throw problem(offset, "must be a non-negative integer")
        }
        let appendedAtField = try required(.appendedAt)
        let appendedAt = try utf8(of: appendedAtField) { bytes throws(EventDecodingError) in
            guard let time = EventTimestamp(utf8: bytes) else {
                throw problem(appendedAtField, "must be a UTC time like 2026-11-29T03:06:17.123Z")
            }
            return time
        }
        let typeField = try required(.type)
        guard case .string(let type) = typeField.value else { throw problem(typeField, "must be a string") }
        let kind: LoggedEvent.Kind
        if reader.string(type, equals: Self.reservationAcceptedType) {
            try onlyFields(FieldName.reservationAccepted, of: ReservationEvent.eventType)
            kind = .reservationAccepted(try reservationAccepted(withGuest: false))
        } else if reader.string(type, equals: Self.reservationAcceptedWithGuestType) {
            try onlyFields(FieldName.reservationAcceptedWithGuest, of: ReservationEvent.eventTypeWithGuest)
            kind = .reservationAccepted(try reservationAccepted(withGuest: true))
        } else if reader.string(type, equals: Self.reservationCancelledType) {
            try onlyFields(FieldName.reservationCancelled, of: CancellationEvent.eventType)
            kind = .reservationCancelled(try reservationCancelled())
        } else {
            kind = .unknown(type: reader.decodeString(type))
        }
        return LoggedEvent(offset: offsetValue.magnitude, appendedAt: appendedAt, kind: kind)
    }

    /// Refuses a field that a line of `type` may not have: one this version does not know, or one of another
    /// known type; reports the first of them in the line.
    private func onlyFields(_ allowed: [FieldName], of type: String) throws(EventDecodingError) {
        var first = firstUnknownField
        for name in FieldName.allCases where !allowed.contains(name) {
            if let field = found[name], field.nameOffset < first?.nameOffset ?? Int.max { first = field }
        }
        if let first {
            throw EventDecodingError(
                at: first.nameOffset, "unknown field \(reader.quotedForMessage(first.name)) in a \(type) event")
        }
    }

    private func reservationAccepted(withGuest: Bool) throws(EventDecodingError) -> ReservationEvent {
        let node = try reader.decodeString(string(.node))

        let digest = try digest()
        let name = try storedText(.name, ReservationRules.checkName)

        let peopleField = try required(.people)
        guard case .integer(let people) = peopleField.value, !people.isNegative,
            people.magnitude <= UInt64(ReservationRules.peopleRange.upperBound),
            case .valid(let peopleCount) = ReservationRules.people(Int(people.magnitude))
        else {
            throw problem(peopleField, "must be an integer from 1 to 9999")
        }

        let dateTimeField = try required(.dateTime)
        let dateTime = try utf8(of: dateTimeField) { bytes throws(EventDecodingError) in
            do {
                return try LocalDateTime.parse(utf8: bytes, allowingZeroSeconds: false)
            } catch {
                throw problem(dateTimeField, "must be a real date and time written YYYY-MM-DDTHH:MM")
            }
        }

        let notes = try storedText(.notes, ReservationRules.checkNotes)

        let testFailuresField = try required(.testFailures)
        guard case .bool(let testFailures) = testFailuresField.value else {
            throw problem(testFailuresField, "must be true or false")
        }

        let reservation = Reservation(
            checkedName: name,
            people: peopleCount,
            dateTime: dateTime,
            notes: notes,
            testFailures: testFailures
        )
        let guest = withGuest ? try identity(issuer: .guestIssuer, subject: .guestSubject) : nil
        return ReservationEvent(node: node, digest: digest, reservation: reservation, guest: guest)
    }

    private func reservationCancelled() throws(EventDecodingError) -> CancellationEvent {
        let node = try reader.decodeString(string(.node))
        let digest = try digest()
        let by = try identity(issuer: .byIssuer, subject: .bySubject)
        let roleField = try required(.byRole)
        let roleText = try reader.decodeString(string(.byRole))
        guard let role = CancellerRole(rawValue: roleText) else {
            throw problem(roleField, "must be \"guest\" or \"staff\"")
        }
        let reason = try storedText(.reason, ReservationRules.checkReason)
        return CancellationEvent(node: node, digest: digest, by: by, role: role, checkedReason: reason)
    }

    private func digest() throws(EventDecodingError) -> ReservationDigest {
        let digestField = try required(.digest)
        return try utf8(of: digestField) { bytes throws(EventDecodingError) in
            guard let digest = ReservationDigest(hexUTF8: bytes) else {
                throw problem(digestField, "must be 20 lowercase hexadecimal digits")
            }
            return digest
        }
    }

    private func identity(issuer: FieldName, subject: FieldName) throws(EventDecodingError) -> GuestIdentity {
        let issuerText = try reader.decodeString(string(issuer))
        let subjectText = try reader.decodeString(string(subject))
        guard GuestIdentity.isAcceptable(issuerText) else {
            throw problem(try required(issuer), "must be 1 to 255 characters on one line, without control characters")
        }
        guard let identity = GuestIdentity(issuer: issuerText, subject: subjectText) else {
            throw problem(try required(subject), "must be 1 to 255 characters on one line, without control characters")
        }
        return identity
    }

    // MARK: Field access

    private func required(_ name: FieldName) throws(EventDecodingError) -> JSONField {
        guard let field = found[name] else {
            throw EventDecodingError(at: reader.bytes.count, "missing field \"\(name.text)\"")
        }
        return field
    }

    private func string(_ name: FieldName) throws(EventDecodingError) -> JSONString {
        let field = try required(name)
        guard case .string(let string) = field.value else { throw problem(field, "must be a string") }
        return string
    }

    /// A text field that must be stored clean (trimmed, line breaks as LF) and meet its rule.
    private func storedText(
        _ name: FieldName,
        _ rule: (String, TextFacts) -> ReservationRules.Check<String>
    ) throws(EventDecodingError) -> String {
        let text = try reader.decodeString(string(name))
        let facts = TextFacts(of: text)
        if facts.hasSurroundingWhitespace || facts.containsCarriageReturn {
            throw problem(try required(name), "has surrounding whitespace or a carriage return")
        }
        switch rule(text, facts) {
        case .invalid(let message): throw problem(try required(name), message)
        case .valid: return text
        }
    }

    private func utf8<Value>(
        of field: JSONField,
        _ body: (UnsafeBufferPointer<UInt8>) throws(EventDecodingError) -> Value
    ) throws(EventDecodingError) -> Value {
        guard case .string(let string) = field.value else { throw problem(field, "must be a string") }
        return try reader.withUTF8(of: string, body)
    }

    private func problem(_ field: JSONField, _ reason: String) -> EventDecodingError {
        EventDecodingError(at: field.valueOffset, "field \(reader.quotedForMessage(field.name)): \(reason)")
    }
}

/// The fields of a line by name: one stored property each rather than an array, so that
/// decoding a line allocates nothing for them.
private struct FoundFields {
    private var offset, appendedAt, type, node, digest, name, people, dateTime, notes, testFailures: JSONField?
    private var guestIssuer, guestSubject, byIssuer, bySubject, byRole, reason: JSONField?

    subscript(_ field: EventLineDecoder.FieldName) -> JSONField? {
        get {
            switch field {
            case .offset: offset
            case .appendedAt: appendedAt
            case .type: type
            case .node: node
            case .digest: digest
            case .name: name
            case .people: people
            case .dateTime: dateTime
            case .notes: notes
            case .testFailures: testFailures
            case .guestIssuer: guestIssuer
            case .guestSubject: guestSubject
            case .byIssuer: byIssuer
            case .bySubject: bySubject
            case .byRole: byRole
            case .reason: reason
            }
        }
        set {
            switch field {
            case .offset: offset = newValue
            case .appendedAt: appendedAt = newValue
            case .type: type = newValue
            case .node: node = newValue
            case .digest: digest = newValue
            case .name: name = newValue
            case .people: people = newValue
            case .dateTime: dateTime = newValue
            case .notes: notes = newValue
            case .testFailures: testFailures = newValue
            case .guestIssuer: guestIssuer = newValue
            case .guestSubject: guestSubject = newValue
            case .byIssuer: byIssuer = newValue
            case .bySubject: bySubject = newValue
            case .byRole: byRole = newValue
            case .reason: reason = newValue
            }
        }
    }
}
