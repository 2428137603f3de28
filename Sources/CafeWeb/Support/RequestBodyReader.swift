import Hummingbird
import HTTPTypes
import NIOCore

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

/// The fields of an `application/x-www-form-urlencoded` body (the WHATWG URL standard's parser): `&`
/// separates pairs, `=` names from values, `+` is a space, `%XX` a byte (a `%` not followed by two hex
/// digits stays as it is); the decoded bytes must be UTF-8.
struct FormFields: Sendable {
    /// The pairs in body order; a repeated name keeps every value.
    let pairs: [(name: String, value: String)]

    /// The first value of `name`, or nil when the body has no such field.
    subscript(name: String) -> String? {
        pairs.first { $0.name == name }?.value
    }

    /// Parses a form body.
    ///
    /// - Throws: ``WebError`` (400, `malformed-form`) for a name or value that is not UTF-8.
    init(body: [UInt8]) throws(WebError) {
        var pairs: [(name: String, value: String)] = []
        for part in body.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = part.firstIndex(of: UInt8(ascii: "="))
            let rawName = part[part.startIndex..<(equals ?? part.endIndex)]
            let rawValue = equals.map { part[part.index(after: $0)...] } ?? []
            guard let name = Self.decode(rawName), let value = Self.decode(rawValue) else {
                throw WebError(
                    status: .badRequest, problem: .malformedForm,
                    detail: "The form could not be read: it is not UTF-8 text. Please go back to the reservation page and send the form again.")
            }
            pairs.append((name, value))
        }
        self.pairs = pairs
    }

    private static func decode(_ bytes: ArraySlice<UInt8>) -> String? {
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "+"):
                decoded.append(UInt8(ascii: " "))
                index += 1
            case UInt8(ascii: "%")
            where index + 2 < bytes.endIndex && hexValue(bytes[index + 1]) != nil && hexValue(bytes[index + 2]) != nil:
                decoded.append(hexValue(bytes[index + 1])! << 4 | hexValue(bytes[index + 2])!)
                index += 3
            default:
                decoded.append(byte)
                index += 1
            }
        }
        return String(validating: decoded, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
