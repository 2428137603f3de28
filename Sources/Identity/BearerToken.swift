/// The credentials of an `Authorization` header.
public enum BearerToken {
    /// The token of `Authorization: Bearer TOKEN` (the scheme is case-insensitive, RFC 9110 section 11.1), or
    /// nil for another scheme, no token, or no header. Spaces around the scheme and the token are not part of
    /// them (a field's value has no leading or trailing whitespace, RFC 9110 section 5.5).
    public static func parse(authorization: String?) -> String? {
        guard let authorization else { return nil }
        let value = authorization.drop(while: isBlank)
        guard let space = value.firstIndex(of: " "), value[..<space].lowercased() == "bearer" else { return nil }
        let token = value[space...].drop(while: isBlank).reversed().drop(while: isBlank).reversed()
        return token.isEmpty ? nil : String(token)
    }

    private static func isBlank(_ character: Character) -> Bool { character == " " || character == "\t" }
}
