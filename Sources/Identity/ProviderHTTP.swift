import Foundation
import FoundationNetworking
import Synchronization

/// Requests to the provider (discovery, keys, tokens) over HTTPS with libcurl's URLSession, each bounded by
/// a deadline: a provider that hangs costs a sign-in its deadline, never a stuck request.
final class ProviderHTTP: Sendable {
    private let session: URLSession
    private let timeout: Duration

    /// The largest body read from the provider: discovery documents and key sets are a few kilobytes.
    static let maximumBodyBytes = 1 << 20

    init(timeout: Duration) {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = seconds
        configuration.timeoutIntervalForResource = seconds
        configuration.httpCookieAcceptPolicy = .never
        configuration.urlCache = nil
        self.session = URLSession(configuration: configuration)
        self.timeout = timeout
    }

    struct Response {
        var status: Int
        var body: Data
    }

    func get(_ url: URL) async throws(IdentityError) -> Response {
        var request = URLRequest(url: url)
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        return try await send(request)
    }

    /// Posts an `application/x-www-form-urlencoded` body, with HTTP Basic authentication when given.
    func postForm(_ url: URL, fields: [(String, String)], basicAuthorization: (user: String, password: String)?)
        async throws(IdentityError) -> Response
    {
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        if let basicAuthorization {
            // RFC 6749, section 2.3.1: the id and secret are form-encoded before they are joined.
            let credentials = FormEncoding.escape(basicAuthorization.user) + ":" + FormEncoding.escape(basicAuthorization.password)
            request.setValue("Basic " + Data(credentials.utf8).base64EncodedString(), forHTTPHeaderField: "Authorization")
        }
        request.httpBody = Data(FormEncoding.encode(fields).utf8)
        return try await send(request)
    }

    /// Sends `request` and answers by the deadline whatever libcurl does: its own timeouts run on one shared
    /// thread and fire late when the machine is busy, so a timer of ours answers instead (and cancels the
    /// transfer) when the provider has not answered in time.
    private func send(_ request: URLRequest) async throws(IdentityError) -> Response {
        var request = request
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        request.timeoutInterval = seconds
        let target = "\(request.httpMethod ?? "GET") \(request.url?.absoluteString ?? "?")"
        let timeout = self.timeout
        let session = self.session
        let outcome: Result<Response, IdentityError> = await withCheckedContinuation { continuation in
            let answer = OneAnswer(continuation)
            let task = session.dataTask(with: request) { data, response, error in
                if let error {
                    answer.give(.failure(IdentityError(.providerUnavailable, "\(target) failed: \(error.localizedDescription)")))
                    return
                }
                guard let http = response as? HTTPURLResponse else {
                    answer.give(.failure(IdentityError(.providerUnavailable, "\(target) gave no HTTP response")))
                    return
                }
                let body = data ?? Data()
                guard body.count <= Self.maximumBodyBytes else {
                    answer.give(.failure(IdentityError(.providerUnavailable, "\(target) answered with more than \(Self.maximumBodyBytes) bytes")))
                    return
                }
                answer.give(.success(Response(status: http.statusCode, body: body)))
            }
            answer.onGiven = Task {
                try? await Task.sleep(for: timeout)
                if answer.give(.failure(IdentityError(.providerUnavailable, "\(target) did not answer within \(timeout)"))) {
                    task.cancel()
                }
            }
            task.resume()
        }
        return try outcome.get()
    }
}

/// The one answer a request gives: from the transfer or from its deadline, whichever comes first.
private final class OneAnswer: Sendable {
    private let continuation: Mutex<CheckedContinuation<Result<ProviderHTTP.Response, IdentityError>, Never>?>
    private let timer = Mutex<Task<Void, Never>?>(nil)

    init(_ continuation: CheckedContinuation<Result<ProviderHTTP.Response, IdentityError>, Never>) {
        self.continuation = Mutex(continuation)
    }

    /// The deadline's timer, cancelled once the answer is given.
    var onGiven: Task<Void, Never>? {
        get { timer.withLock { $0 } }
        set { timer.withLock { $0 = newValue } }
    }

    /// Gives `outcome` as the answer unless one was given already; says whether this one was.
    @discardableResult
    func give(_ outcome: Result<ProviderHTTP.Response, IdentityError>) -> Bool {
        guard let waiting = continuation.withLock({ $0.take() }) else { return false }
        waiting.resume(returning: outcome)
        timer.withLock { $0?.cancel() }
        return true
    }
}

/// `application/x-www-form-urlencoded`, as RFC 6749 (appendix B) asks of clients.
enum FormEncoding {
    /// - Parameter spaceAsPlus: write a space as `+` (a form body) or as `%20` (a URL's query, read the same
    ///   way by every parser).
    static func encode(_ fields: [(String, String)], spaceAsPlus: Bool = true) -> String {
        fields.map { escape($0.0, spaceAsPlus: spaceAsPlus) + "=" + escape($0.1, spaceAsPlus: spaceAsPlus) }
            .joined(separator: "&")
    }

    static func escape(_ text: String, spaceAsPlus: Bool = true) -> String {
        var output = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "*"):
                output.unicodeScalars.append(UnicodeScalar(byte))
            case UInt8(ascii: " ") where spaceAsPlus: output += "+"
            default: output += String(format: "%%%02X", byte)
            }
        }
        return output
    }
}
