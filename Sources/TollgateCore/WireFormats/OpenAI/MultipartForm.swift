/// The parts of a `multipart/form-data` body (RFC 7578), located in place: the body the proxy already holds is
/// scanned once for its boundary lines, and nothing but the parts' names and positions is kept, so a 25 MB audio
/// upload costs a few dozen bytes of state. Fields are read with ``text(_:)``.
struct MultipartForm {
    /// One part: its field name, its file name (for a file), and where its content stands in the body.
    struct Part {
        var name: String
        var filename: String?
        var content: Range<Int>
    }

    let body: [UInt8]
    let parts: [Part]

    /// Longest field value read as text (a model name, a size): larger values are files, not settings.
    static let maxTextLength = 256

    /// Locates the parts; throws when the content type names no boundary or the body does not follow it to its end.
    init(body: [UInt8], contentType: String?) throws(RequestError) {
        guard let contentType, contentType.lowercased().hasPrefix("multipart/form-data") else {
            throw .invalidForm("expected Content-Type multipart/form-data, not \(contentType.map { "'\($0)'" } ?? "none")")
        }
        guard let boundary = Self.boundary(in: contentType) else { throw .invalidForm("the Content-Type names no boundary") }
        let delimiter = Array("--\(boundary)".utf8)
        self.body = body
        var parts: [Part] = []
        guard var at = Self.find(delimiter, in: body, from: 0) else { throw .invalidForm("no part starts with the boundary") }
        while true {
            let afterDelimiter = at + delimiter.count
            // `--boundary--` closes the body.
            if body.count >= afterDelimiter + 2, body[afterDelimiter] == 0x2D, body[afterDelimiter + 1] == 0x2D { break }
            guard let headersEnd = Self.find(Array("\r\n\r\n".utf8), in: body, from: afterDelimiter) else {
                throw .invalidForm("a part's headers are cut short")
            }
            let headers = String(decoding: body[afterDelimiter..<headersEnd], as: UTF8.self)
            let contentStart = headersEnd + 4
            guard let next = Self.find(Array("\r\n".utf8) + delimiter, in: body, from: contentStart) else {
                throw .invalidForm("the body ends before its closing boundary")
            }
            guard let disposition = Self.disposition(headers), let name = disposition.name else {
                throw .invalidForm("a part has no Content-Disposition name")
            }
            parts.append(Part(name: name, filename: disposition.filename, content: contentStart..<next))
            at = next + 2
        }
        self.parts = parts
    }

    /// The last text value of a field (`nil` when absent or longer than ``maxTextLength``).
    func text(_ name: String) -> String? {
        guard let part = parts.last(where: { $0.name == name && $0.filename == nil }), part.content.count <= Self.maxTextLength else { return nil }
        return String(decoding: body[part.content], as: UTF8.self)
    }

    /// Whether a field is present at all.
    func has(_ name: String) -> Bool { parts.contains { $0.name == name } }

    /// Bytes of every file part.
    var fileBytes: Int { parts.filter { $0.filename != nil }.reduce(0) { $0 + $1.content.count } }

    /// The body with a field's value replaced (a model alias), or `nil` when the field is absent.
    func replacing(_ name: String, with value: String) -> [UInt8]? {
        guard let part = parts.last(where: { $0.name == name && $0.filename == nil }) else { return nil }
        var edited = body
        edited.replaceSubrange(part.content, with: Array(value.utf8))
        return edited
    }

    /// `boundary=…` (quoted or not) of a Content-Type.
    static func boundary(in contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].trimmingSpaces.lowercased() == "boundary" else { continue }
            var value = pair[1].trimmingSpaces
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return value.isEmpty || value.count > 200 ? nil : value
        }
        return nil
    }

    /// `name` and `filename` of a part's `Content-Disposition: form-data; name="…"; filename="…"`.
    static func disposition(_ headers: String) -> (name: String?, filename: String?)? {
        for line in headers.split(separator: "\r\n") {
            let pair = line.split(separator: ":", maxSplits: 1)
            guard pair.count == 2, pair[0].trimmingSpaces.lowercased() == "content-disposition" else { continue }
            var name: String?
            var filename: String?
            for parameter in pair[1].split(separator: ";").dropFirst() {
                let item = parameter.split(separator: "=", maxSplits: 1)
                guard item.count == 2 else { continue }
                var value = item[1].trimmingSpaces
                if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
                switch item[0].trimmingSpaces.lowercased() {
                case "name": name = value
                case "filename": filename = value
                default: break
                }
            }
            return (name, filename)
        }
        return nil
    }

    /// The offset of the first occurrence of `needle` in `haystack` at or after `start`.
    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var index = start
        let last = haystack.count - needle.count
        while index <= last {
            if haystack[index] == first {
                var matched = true
                for offset in 1..<needle.count where haystack[index + offset] != needle[offset] {
                    matched = false
                    break
                }
                if matched { return index }
            }
            index += 1
        }
        return nil
    }
}

extension Substring {
    fileprivate var trimmingSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
