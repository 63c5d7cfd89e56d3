/// Reading the JSON body of an OpenAI media request (images, speech, moderation): only the members metering needs
/// are scanned; the rest is forwarded byte for byte.
enum OpenAIMediaRequest {
    /// Scans a body that must be one complete JSON object.
    static func scan(_ body: [UInt8], paths: JSONFieldScanner.KeyPaths) throws(RequestError) -> JSONFieldScanner {
        guard let start = body.firstIndex(where: { !JSONEdit.isWhitespace($0) }) else { throw .invalidJSON("the body is empty") }
        guard body[start] == UInt8(ascii: "{") else { throw .invalidJSON("expected a JSON object") }
        guard let scanner = JSONFieldScanner.scanWhole(body, paths: paths) else {
            throw .invalidJSON("the object is not well-formed or is cut short")
        }
        if let duplicate = scanner.duplicate { throw .duplicateMember(duplicate.joined(separator: ".")) }
        return scanner
    }

    /// The string at a path (`nil` when absent or null); throws when it is another type.
    static func string(_ scanner: JSONFieldScanner, at index: Int, field: String) throws(RequestError) -> String? {
        guard let raw = scanner.value(at: index), raw != Array("null".utf8) else { return nil }
        guard let text = decodeJSONString(raw) else { throw .invalidField(field, "must be a string") }
        return text
    }

    /// The body with the captured `model` (path 0) replaced (a model alias), or `nil` when the body names none.
    static func replacingModel(_ scanner: JSONFieldScanner, in body: [UInt8], with model: String) -> [UInt8]? {
        guard let capture = scanner.capture(at: 0) else { return nil }
        return JSONEdit.apply([JSONEdit.Replacement(range: capture.start..<capture.end, bytes: encodeJSONString(model))], to: body)
    }
}
