import TestSupport

/// The seeded generator of these tests (TestSupport's SplitMix64): a failing random test fails the same way on
/// every run.
typealias SeededRandom = SplitMix64

/// Random text meant to break escaping: quotes, backslashes, every kind of control, line
/// breaks, non-ASCII letters, combining marks, scalars above U+FFFF and the edges of the
/// Unicode range.
enum HostileText {
    static let awkwardScalars: [Unicode.Scalar] = [
        "\"", "\\", "/", "<", ">", "&", "'", " ", "\n", "\r", "\t", "\u{08}", "\u{0C}", "\u{00}", "\u{01}",
        "\u{1F}", "\u{7F}", "\u{80}", "\u{85}", "\u{9F}", "\u{A0}", "é", "ß", "Ω", "ж", "中", "\u{2028}",
        "\u{2029}", "\u{202E}", "\u{FEFF}", "\u{FFFD}", "\u{FFFF}", "\u{E000}", "😀", "🎂", "\u{1D11E}",
        "\u{10FFFF}", "\u{301}", "\u{3000}",
    ]

    /// Which scalars a random text may hold.
    enum Repertoire {
        /// Anything, controls included: for the digest, which must handle any string.
        case anything
        /// What a valid name may hold: no controls, no line breaks.
        case name
        /// What valid notes may hold: line breaks (LF, CR) but no other controls.
        case notes

        func allows(_ scalar: Unicode.Scalar) -> Bool {
            let isControl = scalar.properties.generalCategory == .control
            switch self {
            case .anything: return true
            case .name: return !isControl && scalar != "\u{2028}" && scalar != "\u{2029}"
            case .notes: return !isControl || scalar == "\n" || scalar == "\r"
            }
        }
    }

    /// A string of 0...`maximumLength` scalars from `repertoire`, about half of them awkward.
    static func random(
        maximumLength: Int,
        from repertoire: Repertoire = .anything,
        using generator: inout SeededRandom
    ) -> String {
        let length = Int.random(in: 0...maximumLength, using: &generator)
        var scalars = String.UnicodeScalarView()
        while scalars.count < length {
            let scalar: Unicode.Scalar
            switch Int.random(in: 0..<10, using: &generator) {
            case 0..<4: scalar = Unicode.Scalar(UInt8.random(in: 0x20...0x7E, using: &generator))
            case 4..<9: scalar = awkwardScalars.randomElement(using: &generator)!
            default: scalar = anyScalar(using: &generator)
            }
            if repertoire.allows(scalar) { scalars.append(scalar) }
        }
        return String(scalars)
    }

    /// Any Unicode scalar value at all (surrogate code points are not scalars).
    static func anyScalar(using generator: inout SeededRandom) -> Unicode.Scalar {
        while true {
            if let scalar = Unicode.Scalar(UInt32.random(in: 0...0x10FFFF, using: &generator)) { return scalar }
        }
    }
}
