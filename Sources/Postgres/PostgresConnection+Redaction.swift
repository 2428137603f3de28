extension PostgresConnection {
    /// A connection string fit for logs and messages: its settings as `key=value` pairs with the
    /// secrets (`password`, and `sslpassword`, the passphrase of the client's TLS key) replaced by
    /// `********`, whichever form (`key=value` or URI) it was written in.
    ///
    /// A string libpq cannot parse is not echoed at all (it might hold a password in a place the parser
    /// did not reach): the result is then `(unparseable connection string)`.
    public static func redactedConnectionString(_ connectionString: String) -> String {
        guard let pairs = try? ConnectionPlan.parse(connectionString) else {
            return "(unparseable connection string)"
        }
        return pairs.map { pair in
            let value = Self.secretKeywords.contains(pair.keyword) ? "********" : pair.value
            return "\(pair.keyword)=\(quoted(value))"
        }.joined(separator: " ")
    }

    /// libpq's settings that hold a secret.
    static let secretKeywords: Set<String> = ["password", "sslpassword"]

    /// Quotes a value as libpq's `key=value` syntax requires: single quotes when it is empty or has spaces
    /// or quotes, with `\` and `'` escaped by a backslash.
    private static func quoted(_ value: String) -> String {
        let needsQuotes = value.isEmpty || value.contains { $0 == " " || $0 == "'" || $0 == "\\" || $0.isWhitespace }
        guard needsQuotes else { return value }
        var result = "'"
        for character in value {
            if character == "'" || character == "\\" { result.append("\\") }
            result.append(character)
        }
        return result + "'"
    }
}
