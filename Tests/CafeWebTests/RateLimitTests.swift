import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CafeWeb

@Suite("Post rate limit: token buckets per client, X-Forwarded-For believed only from trusted proxies", .timeLimit(.minutes(5)))
struct RateLimitTests {
    static let start = ContinuousClock.now
    static func at(_ seconds: Double) -> ContinuousClock.Instant { start + .seconds(seconds) }

    @Test("a bucket gives its burst at once, then one post per 1/rate seconds, and says how long to wait")
    func bucketArithmetic() throws {
        var buckets = TokenBuckets(rate: 2, burst: 3, maximumClients: 100)
        let client = try #require(IPAddress("192.0.2.1"))
        for _ in 0..<3 { #expect(buckets.take(client, at: Self.at(0)) == .allowed) }
        #expect(buckets.take(client, at: Self.at(0)) == .limited(retryAfter: .milliseconds(500)))
        // A refusal costs nothing: the wait does not grow by asking.
        #expect(buckets.take(client, at: Self.at(0.25)) == .limited(retryAfter: .milliseconds(250)))
        #expect(buckets.take(client, at: Self.at(0.5)) == .allowed)
        #expect(buckets.take(client, at: Self.at(0.5)) == .limited(retryAfter: .milliseconds(500)))
        // A long quiet spell refills to the burst, never beyond.
        for _ in 0..<3 { #expect(buckets.take(client, at: Self.at(100)) == .allowed) }
        #expect(buckets.take(client, at: Self.at(100)) != .allowed)
        // Another client has its own bucket.
        #expect(buckets.take(try #require(IPAddress("192.0.2.2")), at: Self.at(100)) == .allowed)
    }

    @Test("the table stays bounded: refilled clients are forgotten first, then the longest idle")
    func boundedTable() throws {
        var buckets = TokenBuckets(rate: 1, burst: 2, maximumClients: 16)
        let busy = try #require(IPAddress("198.51.100.1"))
        #expect(buckets.take(busy, at: Self.at(0)) == .allowed)
        #expect(buckets.take(busy, at: Self.at(0)) == .allowed)
        for index in 0..<1000 {
            _ = buckets.take(try #require(IPAddress("10.0.\(index / 256).\(index % 256)")), at: Self.at(0.001))
            #expect(buckets.trackedClients <= 16)
        }
        // A flood of addresses can evict a client that had not refilled (it then starts afresh): this bound is
        // about memory; floods of addresses are the WAF rule's to stop.
    }

    @Test("addresses and networks: IPv4, IPv6, mapped, CIDR; anything else refused")
    func parsing() throws {
        #expect(IPAddress("192.0.2.7")?.description == "192.0.2.7")
        #expect(IPAddress("::ffff:192.0.2.7") == IPAddress("192.0.2.7"))
        #expect(IPAddress("2001:db8::1")?.description == "2001:db8:0:0:0:0:0:1")
        #expect(IPAddress("::") == IPAddress(high: 0, low: 0))
        for bad in ["", "1.2.3", "1.2.3.256", "01.2.3.4", "1.2.3.4:80", "[::1]", "2001:db8::1::2", "1:2:3:4:5:6:7:8:9", "host", " 1.2.3.4", "fe80::1%eth0", "1:"] {
            #expect(IPAddress(bad) == nil, "\(bad) should be refused")
        }
        let vpc = try #require(IPNetwork("10.40.0.0/16"))
        #expect(vpc.contains(try #require(IPAddress("10.40.255.1"))))
        #expect(!vpc.contains(try #require(IPAddress("10.41.0.1"))))
        #expect(IPNetwork("127.0.0.1")?.contains(try #require(IPAddress("127.0.0.1"))) == true)
        #expect(IPNetwork("2001:db8::/32")?.contains(try #require(IPAddress("2001:db8:ffff::1"))) == true)
        #expect(IPNetwork("10.0.0.0/33") == nil)
        #expect(IPNetwork("10.0.0.0/") == nil)
        #expect(IPAddress("2001:db8:1:2:3:4:5:6")?.masked(toPrefix: 64) == IPAddress("2001:db8:1:2::"))
    }

    @Test("the client is the first address from the right that no trusted proxy vouches for")
    func clientResolution() throws {
        let resolver = ClientAddressResolver(trustedProxies: [IPNetwork("10.40.0.0/16")!, IPNetwork("127.0.0.1")!])
        func client(_ peer: String, _ header: [String]) -> String? {
            resolver.client(peer: IPAddress(peer), forwardedFor: header)?.description
        }
        // An untrusted peer is the client, whatever it claims.
        #expect(client("203.0.113.9", ["198.51.100.1"]) == "203.0.113.9")
        // The load balancer appended the address it saw; what the client wrote before it is not believed.
        #expect(client("10.40.1.5", ["6.6.6.6, 203.0.113.9"]) == "203.0.113.9")
        #expect(client("10.40.1.5", ["6.6.6.6", "203.0.113.9"]) == "203.0.113.9")
        // Two trusted hops.
        #expect(client("127.0.0.1", ["203.0.113.9, 10.40.1.5"]) == "203.0.113.9")
        // A trusted peer without the header, or a chain of trusted hops only: the last one seen.
        #expect(client("10.40.1.5", []) == "10.40.1.5")
        #expect(client("127.0.0.1", ["10.40.1.5"]) == "10.40.1.5")
        // Garbage stops the walk at the last trusted hop.
        #expect(client("10.40.1.5", ["203.0.113.9, not-an-address"]) == "10.40.1.5")
    }

    @Test("over HTTP: posts beyond the burst get 429 with Retry-After and store nothing; reads are never limited")
    func liveLimit() async throws {
        // A rate so low that no refill happens during the test, however slow the machine.
        var configuration = WebConfiguration(timeZone: TimeZone(identifier: "UTC")!)
        configuration.postRateLimit = PostRateLimit(postsPerSecond: 0.001, burst: 2, trustedProxies: ["127.0.0.1"])
        try await TestNode.withLiveServer(configuration: configuration) { node, client in
            let guest: HTTPFields = [.xForwardedFor: "203.0.113.9"]
            let first = try await client.postJSON(APITests.bob, headers: guest)
            #expect(first.status == .created)
            let again = try await client.postJSON(APITests.bob, headers: guest)
            #expect(again.status == .ok)
            let refused = try await client.postJSON(#"{"name": "Eve", "people": 2, "datetime": "2030-01-01T19:00"}"#, headers: guest)
            try expectProblem(refused, status: .tooManyRequests, type: "rate-limited")
            let retryAfter = try #require(refused.headers[.retryAfter].flatMap(Int.init))
            // At most one token's worth of waiting (1/rate = 1000 s), however long the posts above took.
            #expect((1...1000).contains(retryAfter))
            #expect(node.storedRecordCount() == 1)

            // The form answers with a page.
            let form = try await client.postForm([("name", "Eve"), ("people", "2"), ("datetime", "2030-01-01T19:00")], headers: guest)
            #expect(form.status == .tooManyRequests)
            #expect(form.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(form.text.contains("Too many requests"))

            // Reads go on; another client has its own bucket.
            #expect(try await client.get("/api/v1/openapi.json", headers: guest).status == .ok)
            #expect(try await client.get("/readyz", headers: guest).status == .ok)
            let other = try await client.postJSON(
                #"{"name": "Ann", "people": 3, "datetime": "2030-01-01T12:00"}"#, headers: [.xForwardedFor: "203.0.113.10"])
            #expect(other.status == .created)
            #expect(node.storedRecordCount() == 2)
        }
    }

    @Test("over HTTP: X-Forwarded-For from an untrusted peer buys no new bucket")
    func spoofedHeaderIgnored() async throws {
        var configuration = WebConfiguration(timeZone: TimeZone(identifier: "UTC")!)
        configuration.postRateLimit = PostRateLimit(postsPerSecond: 0.001, burst: 1)
        try await TestNode.withLiveServer(configuration: configuration) { node, client in
            let first = try await client.postJSON(APITests.bob, headers: [.xForwardedFor: "198.51.100.1"])
            #expect(first.status == .created)
            let second = try await client.postJSON(
                #"{"name": "Ann", "people": 3, "datetime": "2030-01-01T12:00"}"#, headers: [.xForwardedFor: "198.51.100.2"])
            try expectProblem(second, status: .tooManyRequests, type: "rate-limited")
            #expect(node.storedRecordCount() == 1)
        }
    }

    @Test("RATE[/BURST] is read as documented; nonsense is refused")
    func parsingTheSetting() {
        #expect(PostRateLimit.parse("5/20")?.postsPerSecond == 5)
        #expect(PostRateLimit.parse("5/20")?.burst == 20)
        #expect(PostRateLimit.parse("0.5")?.burst == 1)
        #expect(PostRateLimit.parse("3")?.burst == 6)
        for bad in ["", "0", "-1/5", "5/0", "five", "5/x", "nan", "inf/3"] {
            #expect(PostRateLimit.parse(bad) == nil, "\(bad) should be refused")
        }
        #expect(PostRateLimit.parse("5/20", trustedProxies: ["10.0.0.0/8", "not a network"]) == nil)
    }
}
