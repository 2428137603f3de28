import Orders

/// The reservation form: empty on the home page, or filled in again with a message per field when it
/// came back with problems.
struct ReservationFormView {
    /// What the guest typed, as typed.
    var values: ReservationForm
    /// Why it was not accepted, when it was not.
    var problems: ReservationValidationError?
    /// The signed-in guest's session token, carried by the form so that a post from another site is refused.
    var formToken: String? = nil

    var html: HTML {
        let token: HTML? = formToken.map { "<input type=\"hidden\" name=\"formToken\" value=\"\($0)\">\n" }
        return """
        \(summary)<form class="card" method="post" action="/order" accept-charset="utf-8">
        \(token)        \(field(.name, label: "Name", hint: "The name we put on the table.") { described, invalid in
            "<input type=\"text\" id=\"name\" name=\"name\" value=\"\(values.name ?? "")\" maxlength=\"40\" autocomplete=\"name\" dir=\"auto\" required\(described)\(invalid)>"
        })
        <div class="row">
        \(field(.people, label: "People", hint: "How many of you.") { described, invalid in
            "<input type=\"number\" id=\"people\" name=\"people\" value=\"\(values.people ?? "")\" min=\"1\" max=\"9999\" step=\"1\" inputmode=\"numeric\" required\(described)\(invalid)>"
        })
        \(field(.dateTime, label: "Date and time", hint: "When you will arrive, on the cafe's clock.") { described, invalid in
            "<input type=\"datetime-local\" id=\"datetime\" name=\"datetime\" value=\"\(values.dateTime ?? "")\" required\(described)\(invalid)>"
        })
        </div>
        \(field(.notes, label: "Message", hint: "Optional: a window seat, a birthday, a high chair… (up to 200 characters)") { described, invalid in
            "<textarea id=\"notes\" name=\"notes\" rows=\"3\" maxlength=\"200\" dir=\"auto\"\(described)\(invalid)>\(values.notes ?? "")</textarea>"
        })
        <div class="field check">
        <input type="checkbox" id="testFailures" name="testFailures" value="on" aria-describedby="testFailures-hint"\(values.testFailures != nil ? " checked" : "")>
        <label for="testFailures">Test database failures</label>
        <small id="testFailures-hint">For the curious: this makes your reservation's trip to our database fail a few times on purpose, to show that nothing is lost. Your booking is still made.</small>
        </div>
        <button type="submit">Book the table</button>
        </form>
        """
    }

    /// The list of every problem at the top, each linking to its field.
    private var summary: HTML? {
        guard let problems else { return nil }
        let items: [HTML] = problems.problems.map { problem in
            "<li><a href=\"#\(Self.elementID(problem.field))\">\(problem.message)</a></li>"
        }
        return """
            <div class="error-summary" role="alert" aria-labelledby="error-summary-title">
            <h2 id="error-summary-title">Please check your reservation</h2>
            <ul>\(items)</ul>
            </div>

            """
    }

    /// One labelled field with its hint and, when it has one, its problem; `control` gets the
    /// `aria-describedby` and `aria-invalid` attributes to put on the input.
    private func field(
        _ field: ReservationField, label: String, hint: String, control: (HTML, HTML) -> HTML
    ) -> HTML {
        let id = Self.elementID(field)
        let message = problems?.message(for: field)
        let describedBy: HTML =
            message == nil
            ? " aria-describedby=\"\(id)-hint\"" : " aria-describedby=\"\(id)-hint \(id)-error\""
        let invalid: HTML = message == nil ? "" : " aria-invalid=\"true\""
        let error: HTML? = message.map { "\n<p class=\"field-error\" id=\"\(id)-error\">\($0)</p>" }
        return """
            <div class="field">
            <label for="\(id)">\(label)</label>
            <span class="hint" id="\(id)-hint">\(hint)</span>
            \(control(describedBy, invalid))\(error)
            </div>
            """
    }

    /// The form's element id of a field: the form field name, which is also the JSON name.
    private static func elementID(_ field: ReservationField) -> String {
        switch field {
        case .name, .people, .dateTime, .notes, .testFailures: field.rawValue
        default: "name"
        }
    }
}
