/// A reservation as the old Python site's form dictionary, whose JSON text the digest
/// hashes.
///
/// The old site hashed `json.dumps(form)` for a dict of the posted strings, so the fields
/// here are strings too, and ``json()`` writes them exactly as `json.dumps` did:
///
///     {"Name": "Bob", "People": "2", "date": "2020-11-16T20:00", "Message": "window seat, caf\u00e9"}
///
/// keys in this order, `", "` and `": "` separators, ASCII-only escaping, and
/// `, "Emulate": "on"` before the closing brace only when the failure-demo box was ticked.
/// Any strings are allowed, even ones validation would refuse: the recipe must reproduce
/// whatever the old site hashed.
public struct LegacyForm: Sendable, Hashable {
    /// `Name`: the name on the booking.
    public var name: String
    /// `People`: the party size as posted, in decimal.
    public var people: String
    /// `date`: `YYYY-MM-DDTHH:MM`.
    public var date: String
    /// `Message`: the notes, "" when none.
    public var message: String
    /// `Emulate`: whether the "Test database failures" box was ticked.
    public var emulate: Bool

    /// Creates the form from its fields' raw text.
    public init(name: String, people: String, date: String, message: String, emulate: Bool) {
        self.name = name
        self.people = people
        self.date = date
        self.message = message
        self.emulate = emulate
    }

    /// The form the old site would have hashed for `reservation`.
    public init(_ reservation: Reservation) {
        self.init(
            name: reservation.name,
            people: String(reservation.people),
            date: reservation.dateTime.description,
            message: reservation.notes,
            emulate: reservation.testFailures
        )
    }

    /// The UTF-8 bytes of `json.dumps(form)`, which are all ASCII.
    public func json() -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(64 + name.utf8.count + people.utf8.count + date.utf8.count + 2 * message.utf8.count)
        output.append(contentsOf: #"{"Name": "#.utf8)
        PythonJSONStringWriter.append(name, to: &output)
        output.append(contentsOf: #", "People": "#.utf8)
        PythonJSONStringWriter.append(people, to: &output)
        output.append(contentsOf: #", "date": "#.utf8)
        PythonJSONStringWriter.append(date, to: &output)
        output.append(contentsOf: #", "Message": "#.utf8)
        PythonJSONStringWriter.append(message, to: &output)
        if emulate {
            output.append(contentsOf: #", "Emulate": "on""#.utf8)
        }
        output.append(ASCII.closeBrace)
        return output
    }
}
