import Hummingbird
import HTTPTypes
import NIOCore
import Projection

extension Response {
    /// A page, `text/html; charset=utf-8`.
    static func html(_ page: HTML, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: page.markup)))
    }

    /// A JSON body, `application/json` unless `contentType` says otherwise.
    static func json(
        _ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:],
        contentType: String = "application/json"
    ) -> Response {
        bytes(value.serialized(), status: status, headers: headers, contentType: contentType)
    }

    static func bytes(
        _ bytes: [UInt8], status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], contentType: String
    ) -> Response {
        var headers = headers
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// A `303 See Other` to `location`.
    static func seeOther(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }
}

extension HTTPFields {
    /// Headers that say where the reservations in a response were read from.
    static func source(_ source: ReadSource) -> HTTPFields {
        [.rananeetiSource: source.rawValue]
    }
}

/// The media type of a `Content-Type` value, lowercased, without parameters: `application/json` for
/// `Application/JSON; charset=utf-8`.
func mediaType(of contentType: String?) -> String? {
    guard let contentType else { return nil }
    let type = contentType.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
    return type.trimmingASCIISpaces().lowercased()
}

extension StringProtocol {
    func trimmingASCIISpaces() -> String {
        var text = Substring(self)
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return String(text)
    }
}
