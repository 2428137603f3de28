public import Orders

/// Realistic reservations, the same for the same seed: names from several scripts, typical notes, party sizes
/// and times a cafe sees. Used by tests and benchmarks so that compression and parsing figures mean something.
public struct SampleReservations: Sendable {
    private var random: SplitMix64

    public init(seed: UInt64) {
        // Offset from the seed, as it always was, so that the data (and the figures measured on it) stay the same.
        random = SplitMix64(seed: seed &+ 0x9E37_79B9_7F4A_7C15)
    }

    private static let names = [
        "Bob", "Alice Martin", "Ana María López", "Zoë Dubois", "Jürgen Weiß", "Priya Raman", "Kenji Yamada",
        "山田 花子", "Olusegun Adeyemi", "Siobhán O'Brien", "Mateusz Wójcik", "Fatima Zahra", "Chen Wei",
        "Lars Øvergaard", "Maya \"M\" Cohen", "Ιωάννης Παπαδόπουλος", "Аня Смирнова", "Nguyễn Văn An",
    ]
    private static let notes = [
        "", "", "", "window seat", "birthday, a small cake if possible", "one high chair please",
        "vegetarian", "gluten free", "we may be 10 minutes late", "anniversary dinner", "quiet table",
        "wheelchair access", "allergic to nuts", "outside if the weather is nice", "2 kids",
    ]

    private mutating func next() -> UInt64 {
        random.next()
    }

    private mutating func below(_ bound: Int) -> Int {
        Int(next() % UInt64(bound))
    }

    /// The next reservation.
    public mutating func reservation() -> Reservation {
        let name = Self.names[below(Self.names.count)]
        let people = below(10) < 8 ? below(4) + 1 : below(12) + 1
        let dateTime = try! LocalDateTime(
            year: 2026 + below(2), month: below(12) + 1, day: below(28) + 1, hour: 8 + below(14), minute: below(4) * 15)
        // A number in some notes keeps otherwise equal reservations apart, as real ones are.
        let note = Self.notes[below(Self.notes.count)]
        let notes = below(3) == 0 ? note : (note.isEmpty ? "ref \(below(100_000))" : "\(note) (ref \(below(100_000)))")
        return try! Reservation(name: name, people: people, dateTime: dateTime, notes: notes, testFailures: below(50) == 0)
    }

    /// The next reservation as a log record, from `node`.
    public mutating func eventRecord(node: String = "node-a") -> [UInt8] {
        ReservationEvent(node: node, reservation: reservation()).encodeRecord()
    }
}
