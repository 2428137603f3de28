/// A reservation request that cannot be accepted, with one message per problem field.
///
/// Every field is checked, so a form can show all its problems at once. The messages are
/// written for the guest and can be shown as they are (after the usual HTML or JSON
/// escaping: a message naming an unknown field quotes that name).
public struct ReservationValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// One field and what is wrong with it.
    public struct Problem: Sendable, Hashable {
        /// The field, as named in the JSON API (`name`, `people`, `datetime`, `notes`,
        /// `testFailures`, or the name of a field that should not be there).
        public let field: ReservationField
        /// A sentence for the guest, e.g. "Party size must be a whole number from 1 to 9999."
        public let message: String

        /// Creates a problem report for `field`.
        public init(field: ReservationField, message: String) {
            self.field = field
            self.message = message
        }
    }

    /// The problems, at least one, in the order of the fields in the form.
    public let problems: [Problem]

    init(problems: [Problem]) {
        precondition(!problems.isEmpty, "a validation error needs at least one problem")
        self.problems = problems
    }

    /// The first message for `field`, or nil if that field is fine.
    public func message(for field: ReservationField) -> String? {
        problems.first { $0.field == field }?.message
    }

    /// Every problem as `field: message`, separated by `; `.
    public var description: String {
        problems.map { "\($0.field): \($0.message)" }.joined(separator: "; ")
    }
}
