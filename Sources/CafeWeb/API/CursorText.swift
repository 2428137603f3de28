import Foundation
import Orders
import Projection

/// ``ReservationCursor`` as the opaque string clients pass back: base64url (no padding) of
/// `v1,YYYY-MM-DDTHH:MM,DIGEST`. Clients must not build or read it; the version lets it change.
enum CursorText {
    static func encode(_ cursor: ReservationCursor) -> String {
        let plain = "v1,\(cursor.dateTime),\(cursor.digest)"
        return Data(plain.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The cursor, or nil when `text` is not one this server gave out.
    static func decode(_ text: String) -> ReservationCursor? {
        guard (1...128).contains(text.utf8.count) else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.utf8.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let plain = String(data: data, encoding: .utf8) else { return nil }
        let parts = plain.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "v1", let dateTime = LocalDateTime(String(parts[1])),
            let digest = ReservationDigest(String(parts[2]))
        else { return nil }
        return ReservationCursor(dateTime: dateTime, digest: digest)
    }
}
