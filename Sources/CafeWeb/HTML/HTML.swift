/// Markup that is safe to send: the literal text of this module's source, with every interpolated
/// value escaped unless it is `HTML` itself.
///
/// Pages are built only from these values, so a guest's name or notes can never become markup:
///
///     let row: HTML = "<td>\(reservation.name)</td>"   // "<script>" arrives as "&lt;script&gt;"
///
/// Escaping covers `&`, `<`, `>`, `"` and `'`, which makes an escaped value safe both as element text
/// and inside a double- or single-quoted attribute value. (Attribute *names*, URLs in `href`, and
/// anything inside `<script>` or `<style>` are never built from guest input.)
struct HTML: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    /// The markup, ready to send.
    private(set) var markup: String

    /// Markup written in this module's source. Never call this with a value from a request.
    init(stringLiteral markup: String) {
        self.markup = markup
    }

    init(stringInterpolation: Interpolation) {
        self.markup = stringInterpolation.markup
    }

    /// Empty markup, for optional parts of a page.
    static let empty: HTML = ""

    var description: String { markup }

    /// Builds markup from literal text and escaped values; see ``HTML``.
    struct Interpolation: StringInterpolationProtocol {
        fileprivate var markup: String

        init(literalCapacity: Int, interpolationCount: Int) {
            markup = ""
            markup.reserveCapacity(literalCapacity + 16 * interpolationCount)
        }

        mutating func appendLiteral(_ literal: String) {
            markup += literal
        }

        /// Text, escaped.
        mutating func appendInterpolation(_ text: String) {
            HTML.appendEscaped(text, to: &markup)
        }

        /// Text, escaped.
        mutating func appendInterpolation(_ text: Substring) {
            HTML.appendEscaped(String(text), to: &markup)
        }

        /// A number, which needs no escaping.
        mutating func appendInterpolation(_ number: Int) {
            markup += String(number)
        }

        /// Markup, as it is.
        mutating func appendInterpolation(_ html: HTML) {
            markup += html.markup
        }

        /// Several pieces of markup, one after the other.
        mutating func appendInterpolation(_ parts: [HTML]) {
            for part in parts { markup += part.markup }
        }

        /// Optional markup: nothing when nil.
        mutating func appendInterpolation(_ html: HTML?) {
            if let html { markup += html.markup }
        }
    }

    /// `text` with `& < > " '` replaced by character references.
    static func escape(_ text: String) -> String {
        var output = ""
        appendEscaped(text, to: &output)
        return output
    }

    private static func appendEscaped(_ text: String, to output: inout String) {
        // Most values need no escaping at all; copy those in one go.
        guard text.utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }) else {
            output += text
            return
        }
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": output += "&amp;"
            case "<": output += "&lt;"
            case ">": output += "&gt;"
            case "\"": output += "&quot;"
            case "'": output += "&#39;"
            default: output.unicodeScalars.append(scalar)
            }
        }
    }
}
