import Identity
import Orders
import Projection

extension SitePages {
    /// "My reservations": a signed-in guest's upcoming and past bookings, from any node.
    func myReservations(_ reservations: GuestReservations, viewer: PageViewer, links: StatusLinks) -> HTML {
        func table(_ items: [ReservationStatus], caption: String) -> HTML {
            guard !items.isEmpty else { return "<p class=\"card\">None.</p>" }
            let rows: [HTML] = items.map { status in
                let reservation = status.reservation
                let stateName = status.cancellation == nil ? status.state.rawValue : "cancelled"
                let rowClass: HTML = status.cancellation == nil ? "" : " class=\"cancelled\""
                return """
                    <tr\(rowClass)><td class="time">\(CafeCalendar.longDateTime(reservation.dateTime))</td>\
                    <td class="name" dir="auto"><a href="/orders/\(status.digest.description)?token=\(links.token(for: status.digest))">\(reservation.name)</a></td>\
                    <td class="people">\(reservation.people)</td>\
                    <td class="notes" dir="auto">\(reservation.notes)</td>\
                    <td><span class="state \(stateName)">\(stateName)</span></td></tr>
                    """
            }
            return """
                <div class="table-wrap"><table>
                <caption class="visually-hidden">\(caption)</caption>
                <thead><tr><th scope="col">When</th><th scope="col">Name</th><th scope="col">People</th><th scope="col">Message</th><th scope="col">State</th></tr></thead>
                <tbody>\(rows)</tbody>
                </table></div>
                """
        }
        let name = viewer.user?.displayName ?? ""
        return layout.page(
            title: "My reservations",
            section: .mine,
            viewer: viewer,
            hero: """
                <h1>My reservations</h1>
                <p class="lead">Signed in as \(name). Open one to see where it is, or to cancel it.</p>
                """,
            wide: true,
            main: """
                \(sourceBanner(reservations.source))<section aria-labelledby="upcoming-title">
                <h2 id="upcoming-title">Upcoming</h2>
                \(table(reservations.upcoming, caption: "Upcoming reservations"))
                </section>
                <section aria-labelledby="past-title">
                <h2 id="past-title">Past</h2>
                \(table(reservations.past, caption: "Past reservations"))
                </section>
                <p class="actions"><a class="button" href="/">Book a table</a></p>
                """)
    }
}
