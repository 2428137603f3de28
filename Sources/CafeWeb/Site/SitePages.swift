import Orders
import Projection

/// The website's pages, as markup. Everything a guest typed is escaped by ``HTML``.
struct SitePages: Sendable {
    let layout: PageLayout
    let calendar: CafeCalendar

    // MARK: Home

    /// The home page with the reservation form, empty or as it came back with problems.
    func home(form: ReservationFormView = ReservationFormView(values: ReservationForm(), problems: nil)) -> HTML {
        layout.page(
            title: form.problems == nil ? "Book a table" : "Please check your reservation",
            section: .book,
            hero: """
                <h1>Book a table</h1>
                <p class="lead">Tell us when you are coming and how many you will be. We keep your reservation safe the moment you press the button, and show you where it is.</p>
                """,
            main: """
                \(form.html)
                <h2>What happens next</h2>
                <ol class="steps">
                <li><strong>Saved at once</strong>Your reservation is written to our server's disk before we say thank you.</li>
                <li><strong>Into the book</strong>It is then copied into the cafe's reservation book, even if that takes a few tries.</li>
                <li><strong>Follow it</strong>You get a page that shows where it is, and updates by itself.</li>
                </ol>
                """)
    }

    // MARK: Status

    /// The page of one reservation: what it is, where it is, and how it got there.
    func status(_ status: ReservationStatus, source: ReadSource) -> HTML {
        let reservation = status.reservation
        let (headline, explanation) = Self.words(for: status)
        let notes: HTML? = reservation.notes.isEmpty ? nil : "<dt>Message</dt><dd dir=\"auto\">\(reservation.notes)</dd>"
        let demo: HTML? =
            reservation.testFailures
            ? "<p class=\"muted\">You asked us to test database failures: the first tries to write this reservation into the cafe's book fail on purpose. Watch them below; the reservation still arrives.</p>"
            : nil
        return layout.page(
            title: "\(headline): \(reservation.name)",
            section: .none,
            refreshSeconds: status.state.isFinal ? nil : 2,
            main: """
                \(sourceBanner(source))<article class="card" aria-labelledby="status-title">
                <div class="status-head"><h1 id="status-title">\(headline)</h1> <span class="state \(status.state.rawValue)">\(status.state.rawValue)</span></div>
                <p>\(explanation)</p>
                <dl class="details">
                <dt>Name</dt><dd dir="auto">\(reservation.name)</dd>
                <dt>People</dt><dd>\(reservation.people)</dd>
                <dt>When</dt><dd>\(CafeCalendar.longDateTime(reservation.dateTime))</dd>
                \(notes)<dt>Reference</dt><dd><span class="reference">\(status.digest.description)</span></dd>
                </dl>
                </article>
                <section class="card" aria-labelledby="timeline-title">
                <h2 id="timeline-title" class="first">Timeline</h2>
                \(demo)\(timeline(status))
                \(status.state.isFinal ? HTML.empty : "<p class=\"muted\">This page refreshes itself every 2 seconds until the reservation is in the cafe's book.</p>")
                </section>
                <p class="actions"><a class="button" href="/">Book another table</a> <a class="button secondary" href="/reservations">Upcoming reservations</a></p>
                """)
    }

    /// The state in plain words: a headline and a sentence.
    static func words(for status: ReservationStatus) -> (String, String) {
        switch status.state {
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

    private func timeline(_ status: ReservationStatus) -> HTML {
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
            let last: HTML? = status.lastFailure.map { "<span class=\"when\">Last problem: \($0)</span>" }
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

    /// Upcoming reservations, grouped by day.
    func list(query: ListQuery, page: ReservationPage, nextCursorText: String?) -> HTML {
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
        return """
            <tr><td class="time">\(CafeCalendar.time(reservation.dateTime))</td>\
            <td class="name" dir="auto"><a href="/orders/\(status.digest.description)">\(reservation.name)</a></td>\
            <td class="people">\(reservation.people)</td>\
            <td class="notes" dir="auto">\(reservation.notes)</td>\
            <td><span class="state \(status.state.rawValue)">\(status.state.rawValue)</span></td></tr>
            """
    }

    /// The banner that says the database did not answer; nothing when it did.
    private func sourceBanner(_ source: ReadSource) -> HTML? {
        guard source == .local else { return nil }
        return """
            <div class="banner local" role="status"><strong>The database is not answering; showing the reservations this node holds. Others may be missing.</strong>New reservations are still taken and kept safe; they reach the database when it is back.</div>

            """
    }

    // MARK: Errors

    /// A page for an error: what happened, what to do, and a way on.
    func error(_ error: WebError) -> HTML {
        layout.page(
            title: error.problem.title,
            section: .none,
            main: """
                <div class="card" role="alert">
                <h1>\(error.problem.title)</h1>
                <p>\(error.detail)</p>
                <p class="actions"><a class="button" href="/">Go to the reservation form</a> <a class="button secondary" href="/reservations">Upcoming reservations</a></p>
                </div>
                """)
    }

    /// The page a problem's `type` URI leads to.
    func problemType(_ problem: ProblemType) -> HTML {
        layout.page(
            title: problem.title,
            section: .none,
            main: """
                <div class="card">
                <h1>\(problem.title)</h1>
                <p>\(problem.explanation)</p>
                <p class="muted">Problem type <span class="reference">\(problem.uri)</span>, as in the <code>type</code> of an <code>application/problem+json</code> answer (RFC 9457).</p>
                </div>
                """)
    }
}
