/// A log line that is not a well-formed event record.
///
/// The log was written by this program, so a line that fails to decode means corruption or
/// a bug, never a guest's mistake; the reason names the field and the byte so that an
/// operator can find it. Lines of an unknown event type are *not* errors: they decode as
/// ``LoggedEvent/Kind/unknown(type:)``.
public struct EventDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Zero-based offset in the line of the byte or value at fault.
    public let byteOffset: Int
    /// What is wrong, e.g. `field "people": must be an integer from 1 to 9999`.
    public let reason: String

    init(at byteOffset: Int, _ reason: String) {
        self.byteOffset = byteOffset
        self.reason = reason
    }

    init(_ syntaxError: JSONSyntaxError) {
        self.init(at: syntaxError.byteOffset, "malformed JSON: \(syntaxError.reason)")
    }

    /// For example `invalid event record at byte 97: field "people": must be an integer from 1 to 9999`.
    public var description: String {
        "invalid event record at byte \(byteOffset): \(reason)"
    }
}
