import Orders

/// Values and helpers shared by the test files.
enum Fixtures {
    /// 2020-11-16T20:00, the date of DESIGN.md's examples.
    static let dateTime = try! LocalDateTime(year: 2020, month: 11, day: 16, hour: 20, minute: 0)

    /// The reservation of DESIGN.md's digest vector.
    static let bob = try! Reservation(name: "Bob", people: 2, dateTime: dateTime, notes: "window seat, café")

    /// What the event log does to a record: `offset` and `appendedAt` in front of the
    /// record's first field.
    static func stamp(_ record: [UInt8], offset: UInt64, appendedAt: String) -> [UInt8] {
        precondition(record.first == UInt8(ascii: "{"))
        return Array(#"{"offset":\#(offset),"appendedAt":"\#(appendedAt)","#.utf8) + record.dropFirst()
    }

    static func bytes(_ text: String) -> [UInt8] {
        Array(text.utf8)
    }

    /// A random valid reservation, or nil when the random texts broke a rule.
    static func randomReservation(using generator: inout SeededRandom) -> Reservation? {
        let dateTime = try? LocalDateTime(
            year: Int.random(in: 1...9999, using: &generator),
            month: Int.random(in: 1...12, using: &generator),
            day: Int.random(in: 1...28, using: &generator),
            hour: Int.random(in: 0...23, using: &generator),
            minute: Int.random(in: 0...59, using: &generator)
        )
        guard let dateTime else { return nil }
        return try? Reservation(
            name: HostileText.random(maximumLength: 42, from: .name, using: &generator),
            people: Int.random(in: 1...9999, using: &generator),
            dateTime: dateTime,
            notes: HostileText.random(maximumLength: 205, from: .notes, using: &generator),
            testFailures: Bool.random(using: &generator)
        )
    }
}
