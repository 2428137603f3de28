/// A field of a reservation request, named as in the JSON API and the events.
///
/// The five known fields have static members; a field the request should not have had
/// (reported as unknown or duplicate) is named by its raw name.
public struct ReservationField: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The field's name in JSON, e.g. `datetime`.
    public let rawValue: String

    /// Creates a field name; any string is allowed so that unknown fields can be reported.
    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    /// The name on the booking.
    public static let name = ReservationField(rawValue: "name")
    /// The party size.
    public static let people = ReservationField(rawValue: "people")
    /// The date and time of the booking.
    public static let dateTime = ReservationField(rawValue: "datetime")
    /// The guest's notes.
    public static let notes = ReservationField(rawValue: "notes")
    /// The "Test database failures" box.
    public static let testFailures = ReservationField(rawValue: "testFailures")
    /// The reason given for a cancellation (not part of a reservation, checked by the same rules).
    public static let reason = ReservationField(rawValue: "reason")

    public var description: String { rawValue }
}
