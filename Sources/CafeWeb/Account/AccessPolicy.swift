import Foundation
import Identity
import Orders
import Projection

/// Who may see and do what: every decision in one place, as pure functions of the listener, the visitor and
/// the reservation, so that they are tested without I/O.
struct AccessPolicy: Sendable {
    let listener: Listener
    let links: StatusLinks
    let calendar: CafeCalendar

    /// The book (every guest's reservations): staff, or the operator listener.
    func mayReadBook(_ visitor: Visitor) -> Bool {
        listener == .operator || visitor.isStaff
    }

    /// One reservation: whoever holds its private link, whoever booked it, staff, or the operator listener.
    func mayRead(_ status: ReservationStatus, visitor: Visitor, token: String?) -> Bool {
        if listener == .operator || visitor.isStaff { return true }
        if let token, links.isValid(token, for: status.digest) { return true }
        if let guest = status.guest, guest == visitor.identity { return true }
        return false
    }

    /// Whether the visitor may cancel `status`, and if not, why.
    enum CancelDecision: Equatable {
        case allowed(CancellerRole)
        /// Not theirs (or nobody signed in): answered as if the reservation did not exist.
        case notYours
        /// Its time has come (or gone): a past reservation is history.
        case past
        /// Cancelled already.
        case alreadyCancelled
    }

    /// Cancelling takes a signed-in guest who booked it, or staff; never the operator listener (it has no
    /// person to name in the event) and never a link alone (a forwarded link must not cancel a table).
    func mayCancel(_ status: ReservationStatus, visitor: Visitor, now: Date = Date()) -> CancelDecision {
        guard listener == .public, let user = visitor.user else { return .notYours }
        let role: CancellerRole
        if let guest = status.guest, guest == user.identity {
            role = .guest
        } else if user.isStaff {
            role = .staff
        } else {
            return .notYours
        }
        if status.cancellation != nil { return .alreadyCancelled }
        guard status.reservation.dateTime > calendar.now(at: now) else { return .past }
        return .allowed(role)
    }
}
