extension String {
    /// `withUTF8` for bodies with typed throws.
    ///
    /// The standard library's `withUTF8` only rethrows `any Error`, which would erase the
    /// precise error types this module promises, so the outcome is carried out as a `Result`.
    mutating func withUTF8Bytes<Success, Failure: Error>(
        _ body: (UnsafeBufferPointer<UInt8>) throws(Failure) -> Success
    ) throws(Failure) -> Success {
        let outcome: Result<Success, Failure> = withUTF8 { bytes in
            Result { () throws(Failure) -> Success in try body(bytes) }
        }
        return try outcome.get()
    }
}
