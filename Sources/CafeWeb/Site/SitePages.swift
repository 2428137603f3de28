import Orders
import Projection

/// The website's pages, as markup. Everything a guest typed is escaped by ``HTML``.
struct SitePages: Sendable {
    let layout: PageLayout
    let calendar: CafeCalendar

    // MARK: Home

    /// The home page with the reservation form, empty or as it came back with problems; or, where booking
    /// needs a signed-in guest and nobody is, a way to sign in.
    func home(
        form: ReservationFormView = ReservationFormView(values: ReservationForm(), problems: nil),
        viewer: PageViewer, needsSignIn: Bool = false
    ) -> HTML {
        let content: HTML =
            needsSignIn
            ? """
                <div class="card">
                <h2 class="first">Sign in to book</h2>
                <p>We ask you to sign in before booking, so that you can see and cancel your reservations later, from any device.</p>
                <p class="actions"><a class="button" href="/signin?returnTo=/">Sign in</a></p>
                </div>
                """
            : form.html
        return layout.page(
            title: form.problems == nil ? "Book a table" : "Please check your reservation",
            section: .book,
            viewer: viewer,
            hero: """
                <h1>Book a table</h1>
                <p class="lead">Tell us when you are coming and how many you will be. We keep your reservation safe the moment you press the button, and show you where it is.</p>
                """,
            main: """
                \(content)
                <h2>What happens next</h2>
                <ol class="steps">
                <li><strong>Saved at once</strong>Your reservation is written to our server's disk before we say thank you.</li>
                <li><strong>Into the book</strong>It is then copied into the cafe's reservation book, even if that takes a few tries.</li>
                <li><strong>Follow it</strong>You get a page that shows where it is, and updates by itself.</li>
                </ol>
                """)
    }

    // MARK: Status

    /// What the status page offers besides the reservation itself.
    struct StatusOptions: Sendable {
        /// The cancel form, when the viewer may cancel it (with the form token of their session).
        var cancelFormToken: String?
        /// Whether the viewer cancels on a guest's behalf.
        var cancelsAsStaff = false
        /// Whether projection failures are shown in the database's own words (operators), or in fixed wording.
        var showsInternals = false
        /// The query that opened the page (the private link's token), kept on the cancel form's way back.
        var linkToken: String?
    }

    /// The page of one reservation: what it is, where it is, and how it got there.
    func status(
        _ status: ReservationStatus, source: ReadSource, viewer: PageViewer, options: StatusOptions = StatusOptions()
    ) -> HTML {
        let reservation = status.reservation
        let (headline, explanation) = Self.words(for: status)
        let notes: HTML? = reservation.notes.isEmpty ? nil : "<dt>Message</dt><dd dir=\"auto\">\(reservation.notes)</dd>"
        let demo: HTML? =
            reservation.testFailures
            ? "<p class=\"muted\">You asked us to test database failures: the first tries to write this reservation into the cafe's book fail on purpose. Watch them below; the reservation still arrives.</p>"
            : nil
        let stateName = status.cancellation == nil ? status.state.rawValue : "cancelled"
        let refreshes = !status.state.isFinal && status.cancellation == nil
        let cancelled: HTML? = status.cancellation.map { cancellation in
            let reason: HTML? = cancellation.reason.isEmpty ? nil : "<dt>Reason given</dt><dd dir=\"auto\">\(cancellation.reason)</dd>"
            let by: HTML = cancellation.role == .staff ? "by the cafe's staff" : "by the guest"
            return """
                <dt>Cancelled</dt><dd><time datetime="\(cancellation.at.text)">\(calendar.moment(cancellation.at))</time>, \(by)</dd>
                \(reason)
                """
        }
        let cancelForm: HTML? = options.cancelFormToken.map { token in
            let linkToken: HTML? = options.linkToken.map { "<input type=\"hidden\" name=\"token\" value=\"\($0)\">" }
            let label: HTML = options.cancelsAsStaff ? "Cancel on the guest's behalf" : "Cancel this reservation"
            return """
                <form class="card cancel" method="post" action="/orders/\(status.digest.description)/cancel" accept-charset="utf-8">
                <h2 class="first">\(label)</h2>
                <input type="hidden" name="formToken" value="\(token)">\(linkToken)
                <div class="field"><label for="reason">Reason (optional)</label>
                <input type="text" id="reason" name="reason" maxlength="200" dir="auto"></div>
                <button type="submit">\(label)</button>
                </form>
                """
        }
        return layout.page(
            title: "\(headline): \(reservation.name)",
            section: .none,
            viewer: viewer,
            refreshSeconds: refreshes ? 2 : nil,
            main: """
                \(sourceBanner(source))<article class="card" aria-labelledby="status-title">
                <div class="status-head"><h1 id="status-title">\(headline)</h1> <span class="state \(stateName)">\(stateName)</span></div>
                <p>\(explanation)</p>
                <dl class="details">
                <dt>Name</dt><dd dir="auto">\(reservation.name)</dd>
                <dt>People</dt><dd>\(reservation.people)</dd>
                <dt>When</dt><dd>\(CafeCalendar.longDateTime(reservation.dateTime))</dd>
                \(notes)<dt>Reference</dt><dd><span class="reference">\(status.digest.description)</span></dd>
                \(cancelled)</dl>
                </article>
                \(cancelForm)<section class="card" aria-labelledby="timeline-title">
                <h2 id="timeline-title" class="first">Timeline</h2>
                \(demo)\(timeline(status, showsInternals: options.showsInternals))
                \(refreshes ? "<p class=\"muted\">This page refreshes itself every 2 seconds until the reservation is in the cafe's book.</p>" : HTML.empty)
                </section>
                <p class="actions"><a class="button" href="/">Book another table</a>\(onwardLink(viewer))</p>
                """)
    }

    /// The second button under a page: the book for staff, one's own reservations for a guest.
    private func onwardLink(_ viewer: PageViewer) -> HTML {
        if viewer.seesBook { return " <a class=\"button secondary\" href=\"/reservations\">The book</a>" }
        if viewer.user != nil { return " <a class=\"button secondary\" href=\"/my\">My reservations</a>" }
        return ""
    }

    /// What a guest is told about failed attempts to reach the database: never its own words, which can name
    /// hosts and ports; operators see those on the operator listener and in the log.
    static let projectionTroubleForGuests =
        "the cafe's book is not reachable right now; your booking is safe and will be written as soon as it is"

    /// The state in plain words: a headline and a sentence.
    static func words(for status: ReservationStatus) -> (String, String) {
        if status.cancellation != nil {
            return ("Cancelled", "This reservation was cancelled. The table is free for others; to book again, use the form.")
        }
        return switch status.state {
        case .pending:
            ("Received",
             "Your reservation is safely stored on our server and is on its way into the cafe's reservation book. You do not need to do anything.")
        case .confirmed:
            ("Confirmed",
             "Your table is in the cafe's reservation book. See you on \(CafeCalendar.longDay(status.reservation.dateTime))!")
        case .duplicate:
            ("Already booked",
             "This exact reservation was already in the cafe's book (sent before, perhaps from another tab or our old site). It is kept once, so there is nothing more to do.")
        }
    }

    private func timeline(_ status: ReservationStatus, showsInternals: Bool) -> HTML {
        var steps: [HTML] = []
        let node: HTML? = status.node.map { " by server <span class=\"reference\">\($0)</span>" }
        if let acceptedAt = status.acceptedAt {
            steps.append(
                "<li class=\"done\">Received and saved to disk\(node)<span class=\"when\"><time datetime=\"\(acceptedAt.text)\">\(calendar.moment(acceptedAt))</time></span></li>"
            )
        } else {
            steps.append("<li class=\"done\">Received\(node)<span class=\"when\">by another of our servers</span></li>")
        }
        if status.failedAttempts > 0 {
            let attempts = status.failedAttempts == 1 ? "1 attempt" : "\(status.failedAttempts) attempts"
            let last: HTML? = status.lastFailure.map {
                "<span class=\"when\">Last problem: \(showsInternals ? $0 : Self.projectionTroubleForGuests)</span>"
            }
            let retrying: HTML = status.state.isFinal ? "" : "; we keep trying"
            steps.append("<li class=\"trouble\">\(attempts) to reach the database failed\(retrying)\(last)</li>")
        }
        switch (status.state, status.projectedAt) {
        case (.pending, _):
            steps.append("<li class=\"waiting\">Waiting to be written into the cafe's reservation book</li>")
        case (.confirmed, let projectedAt?), (.duplicate, let projectedAt?):
            let what = status.state == .confirmed ? "Written into the cafe's reservation book" : "Found already in the cafe's reservation book"
            steps.append(
                "<li class=\"done\">\(what)<span class=\"when\"><time datetime=\"\(projectedAt.text)\">\(calendar.moment(projectedAt))</time></span></li>"
            )
        case (.confirmed, nil), (.duplicate, nil):
            steps.append("<li class=\"done\">In the cafe's reservation book</li>")
        }
        return "<ol class=\"timeline\">\(steps)</ol>"
    }

    // MARK: List

    /// What the list page shows.
    struct ListQuery: Sendable {
        var from: LocalDateTime
        var days: Int
    }

    /// Upcoming reservations, grouped by day: the book, for staff.
    func list(query: ListQuery, page: ReservationPage, nextCursorText: String?, viewer: PageViewer) -> HTML {
        let to = calendar.adding(days: query.days - 1, to: query.from) ?? query.from
        var days: [HTML] = []
        var index = page.items.startIndex
        while index < page.items.endIndex {
            let day = CafeCalendar.dayText(page.items[index].reservation.dateTime)
            var rows: [HTML] = []
            while index < page.items.endIndex, CafeCalendar.dayText(page.items[index].reservation.dateTime) == day {
                rows.append(row(page.items[index]))
                index += 1
            }
            days.append(
                """
                <section class="day" aria-labelledby="day-\(day)">
                <h2 id="day-\(day)">\(CafeCalendar.longDay(page.items[index - 1].reservation.dateTime))</h2>
                <div class="table-wrap"><table>
                <thead><tr><th scope="col">Time</th><th scope="col">Name</th><th scope="col">People</th><th scope="col">Message</th><th scope="col">State</th></tr></thead>
                <tbody>\(rows)</tbody>
                </table></div>
                </section>
                """)
        }
        let range = "\(CafeCalendar.longDay(query.from)) to \(CafeCalendar.longDay(to))"
        let empty: HTML? = page.items.isEmpty ? "<p class=\"card\">No reservations from \(range).</p>" : nil
        let more: HTML? = nextCursorText.map {
            "<p class=\"actions\"><a class=\"button secondary\" href=\"/reservations?from=\(CafeCalendar.dayText(query.from))&amp;days=\(query.days)&amp;cursor=\($0)\">Later reservations</a></p>"
        }
        return layout.page(
            title: "Upcoming reservations",
            section: .reservations,
            viewer: viewer,
            hero: """
                <h1>Upcoming reservations</h1>
                <p class="lead">\(range).</p>
                """,
            wide: true,
            main: """
                \(sourceBanner(page.source))<form class="filters" method="get" action="/reservations">
                <div class="field"><label for="from">From</label><input type="date" id="from" name="from" value="\(CafeCalendar.dayText(query.from))"></div>
                <div class="field"><label for="days">Days</label><input type="number" id="days" name="days" min="1" max="92" value="\(query.days)"></div>
                <button type="submit">Show</button>
                </form>
                \(days)\(empty)\(more)
                """)
    }

    private func row(_ status: ReservationStatus) -> HTML {
        let reservation = status.reservation
        let stateName = status.cancellation == nil ? status.state.rawValue : "cancelled"
        let rowClass: HTML = status.cancellation == nil ? "" : " class=\"cancelled\""
        return """
            <tr\(rowClass)><td class="time">\(CafeCalendar.time(reservation.dateTime))</td>\
            <td class="name" dir="auto"><a href="/orders/\(status.digest.description)">\(reservation.name)</a></td>\
            <td class="people">\(reservation.people)</td>\
            <td class="notes" dir="auto">\(reservation.notes)</td>\
            <td><span class="state \(stateName)">\(stateName)</span></td></tr>
            """
    }

    /// The banner that says the database did not answer; nothing when it did.
    func sourceBanner(_ source: ReadSource) -> HTML? {
        guard source == .local else { return nil }
        return """
            <div class="banner local" role="status"><strong>The database is not answering; showing the reservations this node holds. Others may be missing.</strong>New reservations are still taken and kept safe; they reach the database when it is back.</div>

            """
    }

    // MARK: Errors

    /// A page for an error: what happened, what to do, and a way on (signing in, when that is what it needs).
    func error(_ error: WebError, viewer: PageViewer, returnTo: String? = nil) -> HTML {
        let signIn: HTML? =
            error.problem == .signInRequired && viewer.signInAvailable
            ? " <a class=\"button\" href=\"/signin?returnTo=\(returnTo ?? "/")\">Sign in</a>" : nil
        return layout.page(
            title: error.problem.title,
            section: error.problem == .signInRequired ? .signIn : .none,
            viewer: viewer,
            main: """
                <div class="card" role="alert">
                <h1>\(error.problem.title)</h1>
                <p>\(error.detail)</p>
                <p class="actions">\(signIn)<a class="button\(signIn == nil ? "" : " secondary")" href="/">Go to the reservation form</a>\(onwardLink(viewer))</p>
                </div>
                """)
    }

    /// The page a problem's `type` URI leads to.
    func problemType(_ problem: ProblemType) -> HTML {
        layout.page(
            title: problem.title,
            section: .none,
            viewer: .stranger,
            main: """
                <div class="card">
                <h1>\(problem.title)</h1>
                <p>\(problem.explanation)</p>
                <p class="muted">Problem type <span class="reference">\(problem.uri)</span>, as in the <code>type</code> of an <code>application/problem+json</code> answer (RFC 9457).</p>
                </div>
                """)
    }
}
