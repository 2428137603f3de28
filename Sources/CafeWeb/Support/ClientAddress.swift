import NIOCore

/// An IP address as 16 bytes: IPv6 as it is, IPv4 as its IPv4-mapped IPv6 form (`::ffff:a.b.c.d`), so that one
/// type covers both and a /32 of IPv4 is a /128 here.
struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// The address in network order, high half and low half.
    var high: UInt64
    var low: UInt64

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// True for IPv4 addresses (kept IPv4-mapped).
    var isIPv4: Bool { high == 0 && low >> 32 == 0xFFFF }

    /// Parses `192.0.2.7`, `2001:db8::1` or `::ffff:192.0.2.7`; nil for anything else (ports, brackets,
    /// zone ids and host names are refused: an `X-Forwarded-For` entry holds a bare address).
    init?(_ text: some StringProtocol) {
        let text = Substring(text)
        if let v4 = Self.parseIPv4(text) {
            self.init(high: 0, low: 0xFFFF_0000_0000 | UInt64(v4))
        } else if let v6 = Self.parseIPv6(text) {
            self.init(high: v6.high, low: v6.low)
        } else {
            return nil
        }
    }

    /// The address of a socket, when it is an IP socket.
    init?(_ socket: SocketAddress?) {
        guard let socket, let text = socket.ipAddress else { return nil }
        self.init(text)
    }

    /// This address with all but the first `bits` bits cleared.
    func masked(toPrefix bits: Int) -> IPAddress {
        let bits = min(max(bits, 0), 128)
        let highMask: UInt64 = bits >= 64 ? .max : (bits == 0 ? 0 : .max << (64 - bits))
        let lowMask: UInt64 = bits <= 64 ? 0 : (bits == 128 ? .max : .max << (128 - bits))
        return IPAddress(high: high & highMask, low: low & lowMask)
    }

    var description: String {
        if isIPv4 {
            let v4 = UInt32(truncatingIfNeeded: low)
            return "\(v4 >> 24).\((v4 >> 16) & 0xFF).\((v4 >> 8) & 0xFF).\(v4 & 0xFF)"
        }
        let groups = (0..<8).map { index -> String in
            let word = index < 4 ? high >> (48 - 16 * index) : low >> (48 - 16 * (index - 4))
            return String(word & 0xFFFF, radix: 16)
        }
        return groups.joined(separator: ":")
    }

    private static func parseIPv4(_ text: Substring) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            // Decimal only, no leading zeros (which some parsers read as octal).
            guard (1...3).contains(part.count), part.allSatisfy(\.isASCIIDigit), part == "0" || part.first != "0",
                let byte = UInt32(part), byte <= 255
            else { return nil }
            value = value << 8 | byte
        }
        return value
    }

    private static func parseIPv6(_ text: Substring) -> (high: UInt64, low: UInt64)? {
        guard text.count >= 2, text.count <= 45, text.contains(":") else { return nil }
        var words: [UInt16] = []
        var gapAt: Int?
        var rest = text
        if rest.hasPrefix("::") {
            gapAt = 0
            rest = rest.dropFirst(2)
        }
        while !rest.isEmpty {
            let end = rest.firstIndex(of: ":") ?? rest.endIndex
            let group = rest[..<end]
            if end == rest.endIndex, group.contains("."), let v4 = parseIPv4(group) {
                words.append(UInt16(v4 >> 16))
                words.append(UInt16(v4 & 0xFFFF))
                rest = rest[end...]
                break
            }
            guard (1...4).contains(group.count), group.allSatisfy(\.isHexDigit), let word = UInt16(group, radix: 16)
            else { return nil }
            words.append(word)
            rest = rest[end...]
            if rest.hasPrefix("::") {
                guard gapAt == nil else { return nil }
                gapAt = words.count
                rest = rest.dropFirst(2)
            } else if rest.hasPrefix(":") {
                rest = rest.dropFirst()
                if rest.isEmpty { return nil }
            }
        }
        if let gapAt {
            guard words.count <= 7 else { return nil }
            words.insert(contentsOf: repeatElement(0, count: 8 - words.count), at: gapAt)
        }
        guard words.count == 8 else { return nil }
        let high = words[0..<4].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        let low = words[4..<8].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        return (high, low)
    }
}

/// A range of addresses in CIDR notation: `10.40.0.0/16`, `2001:db8::/32`, or one address (`127.0.0.1`).
struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    var base: IPAddress
    /// Prefix length in IPv6 terms (an IPv4 /16 is 96 + 16 = 112).
    var prefixBits: Int

    init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { return nil }
        let maximum = address.isIPv4 ? 32 : 128
        var bits = maximum
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].allSatisfy(\.isASCIIDigit), let parsed = Int(parts[1]), parsed <= maximum
            else { return nil }
            bits = parsed
        }
        prefixBits = address.isIPv4 ? 96 + bits : bits
        base = address.masked(toPrefix: prefixBits)
    }

    func contains(_ address: IPAddress) -> Bool {
        address.masked(toPrefix: prefixBits) == base
    }

    var description: String {
        base.isIPv4 ? "\(base)/\(prefixBits - 96)" : "\(base)/\(prefixBits)"
    }
}

/// Who a request comes from, as far as it can be known: the connection's peer, unless the peer is a proxy
/// we trust (the load balancer, or nginx on the same host), in which case the `X-Forwarded-For` entries
/// that trusted proxies appended are peeled off from the right and the first address that no trusted proxy
/// vouches for is the client.
///
/// Entries to the left of that one were written by the client itself (anyone can send any
/// `X-Forwarded-For`), so they are never believed. An AWS Application Load Balancer in `append` mode adds
/// the address it saw; nginx configured as in `deployment/nginx` replaces the header with the address it saw.
struct ClientAddressResolver: Sendable {
    /// The proxies whose `X-Forwarded-For` is believed.
    var trustedProxies: [IPNetwork]

    func client(peer: IPAddress?, forwardedFor: [String]) -> IPAddress? {
        guard var current = peer else { return nil }
        guard isTrusted(current) else { return current }
        // Right to left: the last entry was appended by the proxy that connected to us.
        let entries = forwardedFor.flatMap { $0.split(separator: ",") }.reversed()
        for entry in entries {
            guard let address = IPAddress(entry.trimmingASCIISpaces()) else {
                // Garbage in the chain: trust stops at the last proxy that vouched for something readable.
                return current
            }
            current = address
            if !isTrusted(address) { return address }
        }
        return current
    }

    private func isTrusted(_ address: IPAddress) -> Bool {
        trustedProxies.contains { $0.contains(address) }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
