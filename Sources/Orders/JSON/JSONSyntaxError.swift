/// Input that is not the JSON this module accepts, with the byte where reading stopped.
///
/// Thrown for malformed JSON (a missing quote, a trailing comma, invalid UTF-8, a lone
/// surrogate escape, ...) and for a document whose top level is not an object. One error
/// per document: reading stops at the first problem, because what follows a syntax error
/// cannot be interpreted reliably.
public struct JSONSyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Zero-based offset of the offending byte in the input (the input's length when it
    /// ended too early).
    public let byteOffset: Int

    /// What was wrong, in a phrase, e.g. `expected ':' after a field name`.
    public let reason: String

    init(at byteOffset: Int, _ reason: String) {
        self.byteOffset = byteOffset
        self.reason = reason
    }

    /// For example `malformed JSON at byte 17: expected ':' after a field name`.
    public var description: String {
        "malformed JSON at byte \(byteOffset): \(reason)"
    }
}
