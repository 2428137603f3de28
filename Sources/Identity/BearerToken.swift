/// The credentials of an `Authorization` header.
public enum BearerToken {
    /// The token of `Authorization: Bearer TOKEN` (the scheme is case-insensitive, RFC 9110 section 11.1), or
    /// nil for another scheme, no token, or no header. Spaces around the token are not part of it.
    public static func parse(authorization: String?) -> String? {
        guard let authorization else { return nil }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed()
        return token.isEmpty ? nil : String(token)
    }
}
