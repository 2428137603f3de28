import HTTPTypes
import Hummingbird
import NIOCore
import Testing

@testable import CafeWeb

/// Reading request bodies when the client does not finish sending them (found by the fault suite's
/// half-sent requests: each became a 500 and an error-level log line).
@Suite("Request bodies", .timeLimit(.minutes(5)))
struct RequestBodyTests {
    private struct ConnectionClosed: Error {}

    /// A request whose body yields `prefix` and then fails, as NIO's body stream does when the client
    /// closes the connection before the announced Content-Length has arrived.
    private func halfSentRequest(_ prefix: String) -> Request {
        let body = AsyncThrowingStream<ByteBuffer, any Error> { continuation in
            continuation.yield(ByteBuffer(string: prefix))
            continuation.finish(throwing: ConnectionClosed())
        }
        var head = HTTPRequest(method: .post, scheme: "http", authority: "localhost", path: "/api/v1/reservations")
        head.headerFields[.contentType] = "application/json"
        head.headerFields[.contentLength] = "200"
        return Request(head: head, body: RequestBody(asyncSequence: body))
    }

    @Test("a body cut short by the client is a 400 with the caller's problem type, not a 500")
    func incompleteBody() async throws {
        for problem in [ProblemType.malformedJSON, .malformedForm] {
            do {
                _ = try await RequestBodyReader.read(halfSentRequest(#"{"name": "Slow"#), limit: 16 << 10, incomplete: problem)
                Issue.record("a failed body stream was read as complete")
            } catch {
                #expect(error.status == .badRequest)
                #expect(error.problem == problem)
                #expect(error.detail.contains("Nothing was stored"))
            }
        }
    }

    @Test("a body over the limit is still a 413, whether announced or not")
    func tooLarge() async throws {
        let body = AsyncThrowingStream<ByteBuffer, any Error> { continuation in
            continuation.yield(ByteBuffer(string: String(repeating: "x", count: 40)))
            continuation.finish()
        }
        let head = HTTPRequest(method: .post, scheme: "http", authority: "localhost", path: "/api/v1/reservations")
        do {
            _ = try await RequestBodyReader.read(Request(head: head, body: RequestBody(asyncSequence: body)), limit: 10)
            Issue.record("an over-long body was read")
        } catch {
            #expect(error.status == .contentTooLarge)
            #expect(error.problem == .bodyTooLarge)
        }
    }
}
