import JWTKit

/// The claims of a token from the provider, decoded as they come: the standard ones have accessors, and any
/// other (a group claim for ``StaffPolicy``) can be looked up by name.
public struct ProviderClaims: Codable, Sendable, Hashable {
    /// A claim's value as JSON.
    public indirect enum Value: Sendable, Hashable, Codable {
        case string(String)
        case number(Double)
        case bool(Bool)
        case array([Value])
        case object([String: Value])
        case null

        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .null
            } else if let value = try? container.decode(Bool.self) {
                self = .bool(value)
            } else if let value = try? container.decode(Double.self) {
                self = .number(value)
            } else if let value = try? container.decode(String.self) {
                self = .string(value)
            } else if let value = try? container.decode([Value].self) {
                self = .array(value)
            } else {
                self = .object(try container.decode([String: Value].self))
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .string(let value): try container.encode(value)
            case .number(let value): try container.encode(value)
            case .bool(let value): try container.encode(value)
            case .array(let value): try container.encode(value)
            case .object(let value): try container.encode(value)
            case .null: try container.encodeNil()
            }
        }
    }

    /// Every claim by name.
    public let values: [String: Value]

    public init(values: [String: Value]) {
        self.values = values
    }

    public init(from decoder: any Decoder) throws {
        values = try decoder.singleValueContainer().decode([String: Value].self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(values)
    }

    public func string(_ name: String) -> String? {
        if case .string(let value) = values[name] { value } else { nil }
    }

    public func bool(_ name: String) -> Bool? {
        switch values[name] {
        case .bool(let value): value
        // Some providers (Cognito among them) send booleans as strings.
        case .string("true"): true
        case .string("false"): false
        default: nil
        }
    }

    /// A NumericDate claim (`exp`, `iat`, `nbf`) in seconds since 1970.
    public func seconds(_ name: String) -> Double? {
        if case .number(let value) = values[name] { value } else { nil }
    }

    public var issuer: String? { string("iss") }
    public var subject: String? { string("sub") }

    /// `aud` as a list: one string or an array of strings.
    public var audiences: [String] {
        switch values["aud"] {
        case .string(let value): [value]
        case .array(let values): values.compactMap { if case .string(let value) = $0 { value } else { nil } }
        default: []
        }
    }
}

/// ``ProviderClaims`` as JWTKit decodes a payload. Only the signature is checked by the key collection; the
/// claims are checked by ``OpenIDProvider``, which knows the issuer, the audience, the nonce and the clock.
struct UncheckedClaims: JWTPayload {
    let claims: ProviderClaims

    init(from decoder: any Decoder) throws {
        claims = try ProviderClaims(from: decoder)
    }

    func encode(to encoder: any Encoder) throws {
        try claims.encode(to: encoder)
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
