/// A reservation request as an HTML form posts it: every field a string, or missing.
///
/// The HTTP layer fills this from the decoded form body (matching its own form field
/// names); ``Reservation/init(form:)`` does the rest.
public struct ReservationForm: Sendable, Hashable {
    /// The name on the booking.
    public var name: String?
    /// The party size in decimal, e.g. `"2"`.
    public var people: String?
    /// The date and time, `YYYY-MM-DDTHH:MM` or an HTML `datetime-local` value with `:00`
    /// seconds.
    public var dateTime: String?
    /// The guest's notes; nil or empty when none.
    public var notes: String?
    /// The "Test database failures" checkbox. A browser sends a checked box (as `on`, or
    /// its `value` attribute) and leaves an unchecked one out, so any value, even an empty
    /// one, means ticked, and nil means not ticked.
    public var testFailures: String?

    /// Creates a form; every field defaults to absent.
    public init(
        name: String? = nil,
        people: String? = nil,
        dateTime: String? = nil,
        notes: String? = nil,
        testFailures: String? = nil
    ) {
        self.name = name
        self.people = people
        self.dateTime = dateTime
        self.notes = notes
        self.testFailures = testFailures
    }
}

extension Reservation {
    /// Reads and validates a reservation posted from the HTML form.
    ///
    /// Each field is trimmed of surrounding whitespace; notes have their line breaks
    /// normalised to LF. A missing field is treated like an empty one.
    ///
    /// - Parameter form: the posted strings.
    /// - Throws: ``ReservationValidationError`` with a message for every field in error.
    public init(form: ReservationForm) throws(ReservationValidationError) {
        var draft = ReservationDraft()
        draft.name = ReservationRules.name(form.name ?? "")
        draft.people = ReservationRules.people(text: form.people ?? "")
        draft.dateTime = ReservationRules.dateTime(text: form.dateTime ?? "")
        draft.notes = ReservationRules.notes(form.notes ?? "")
        draft.testFailures = .valid(form.testFailures != nil)
        self = try draft.reservation()
    }
}
