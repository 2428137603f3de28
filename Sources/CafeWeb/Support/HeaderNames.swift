import HTTPTypes

extension HTTPField.Name {
    /// The request's id, accepted from the caller when sane and always echoed.
    static let requestID = HTTPField.Name("X-Request-Id")!
    /// `database` or `local`: where the reservations in a response were read from.
    static let rananeetiSource = HTTPField.Name("X-Rananeeti-Source")!
    /// A client's name for one reservation request, so that retrying it returns the first answer.
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    /// `true` on an answer repeated for a known `Idempotency-Key`.
    static let idempotentReplayed = HTTPField.Name("Idempotent-Replayed")!
    /// The media types a POST accepts, sent with 415 Unsupported Media Type.
    static let acceptPost = HTTPField.Name("Accept-Post")!
    /// How much of our URLs other sites see when a guest follows a link (W3C Referrer Policy).
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}
