import Foundation
import Hummingbird
import NIOCore

extension Response {
    /// A JSON answer of Tollgate's own endpoints on the proxy listener (the usage view, customers' limits): sorted keys,
    /// never cached; `snakeCase` converts Swift property names (types with their own coding keys need not).
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, snakeCase: Bool = false) throws -> Response {
        let encoder = JSONEncoder()
        if snakeCase { encoder.keyEncodingStrategy = .convertToSnakeCase }
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}
