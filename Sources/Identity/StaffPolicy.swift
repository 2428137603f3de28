/// Who counts as the cafe's staff: signed-in people named by configuration.
///
/// Someone is staff when any rule matches: their subject (issuer and subject) is listed; their e-mail
/// address is listed and the provider says it is verified; or a claim holds a configured value (a string
/// equal to it, or an array containing it), e.g. `cognito:groups` containing `staff`, or Entra ID's `roles`
/// containing `Cafe.Staff`. With no rule, nobody is staff.
public struct StaffPolicy: Sendable, Hashable {
    /// Subjects that are staff, as `subject` (any issuer this node trusts: there is one).
    public var subjects: Set<String>
    /// E-mail addresses that are staff, compared without regard to case; only when `email_verified` is
    /// not false.
    public var emails: Set<String>
    /// A claim and a value that make someone staff, e.g. `("groups", "staff")`.
    public var claim: (name: String, value: String)?

    public init(subjects: Set<String> = [], emails: Set<String> = [], claim: (name: String, value: String)? = nil) {
        self.subjects = subjects
        self.emails = Set(emails.map { $0.lowercased() })
        self.claim = claim
    }

    /// Whether the person these claims describe is staff.
    public func isStaff(_ claims: ProviderClaims) -> Bool {
        if let subject = claims.subject, subjects.contains(subject) { return true }
        if let email = claims.string("email")?.lowercased(), emails.contains(email),
            claims.bool("email_verified") != false
        {
            return true
        }
        if let claim {
            switch claims.values[claim.name] {
            case .string(let value): return value == claim.value
            case .array(let values): return values.contains(.string(claim.value))
            default: return false
            }
        }
        return false
    }

    public static func == (a: StaffPolicy, b: StaffPolicy) -> Bool {
        a.subjects == b.subjects && a.emails == b.emails && a.claim?.name == b.claim?.name
            && a.claim?.value == b.claim?.value
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(subjects)
        hasher.combine(emails)
        hasher.combine(claim?.name)
        hasher.combine(claim?.value)
    }
}
