import Hummingbird
import HTTPTypes
import NIOCore
import Orders

/// Reads a request body into memory, refusing one over the limit before more than the limit is read.
enum RequestBodyReader {
    /// The body's bytes.
    ///
    /// - Parameter incomplete: The problem to report when the body cannot be read to its end (the client
    ///   hung up mid-body, or sent a broken chunked encoding): `malformed-json` for JSON endpoints,
    ///   `malformed-form` for the site's form.
    /// - Throws: ``WebError/bodyTooLarge(limit:)`` when `Content-Length` announces more than `limit` bytes
    ///   (nothing is read) or when more than `limit` bytes arrive; a 400 ``WebError`` with `incomplete` when
    ///   the body stream fails.
    static func read(_ request: Request, limit: Int, incomplete: ProblemType = .malformedJSON) async throws(WebError)
        -> [UInt8]
    {
        if let announced = request.headers[.contentLength].flatMap(Int.init), announced > limit {
            throw WebError.bodyTooLarge(limit: limit)
        }
        var bytes: [UInt8] = []
        do {
            for try await chunk in request.body {
                guard bytes.count + chunk.readableBytes <= limit else { throw WebError.bodyTooLarge(limit: limit) }
                bytes += chunk.readableBytesView
            }
        } catch let error as WebError {
            throw error
        } catch {
            // The body stream fails only for the client's side of the exchange: the connection closed before
            // the announced length arrived (NIO's "stream ended at an unexpected time"), or the framing was
            // broken. That is a bad request, not a fault of ours: no 500, no error-level log line.
            throw WebError(
                status: .badRequest, problem: incomplete,
                detail: "The request body ended before it was complete, so it could not be read. Nothing was stored; send it again.")
        }
        return bytes
    }
}

/// The fields of an `application/x-www-form-urlencoded` body (``Orders/URLEncodedForm`` decodes them), or a
/// 400 for a body that is not UTF-8 once decoded.
struct FormFields: Sendable {
    private let form: URLEncodedForm

    /// The first value of `name`, or nil when the body has no such field.
    subscript(name: String) -> String? {
        form[name]
    }

    /// Parses a form body.
    ///
    /// - Throws: ``WebError`` (400, `malformed-form`) for a name or value that is not UTF-8.
    init(body: [UInt8]) throws(WebError) {
        guard let form = URLEncodedForm(body: body) else {
            throw WebError(
                status: .badRequest, problem: .malformedForm,
                detail: "The form could not be read: it is not UTF-8 text. Please go back to the reservation page and send the form again.")
        }
        self.form = form
    }
}
