import Foundation
import Logging
import TollgateCore

/// One JSON object per log line on stderr, for log stores: `{"ts":"2026-12-05T09:00:00.123Z","level":"info",
/// "msg":"…","logger":"tollgate", then the metadata}`. Every value is a string; keys are sorted, so that lines diff.
///
/// Lines are built by hand (no JSONSerialization or date formatter per line) and written with one `write(2)`, so that
/// concurrent lines never interleave.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let write: @Sendable ([UInt8]) -> Void

    /// A handler for `label` writing its lines to stderr, or to `write` (tests).
    public init(label: String, write: (@Sendable ([UInt8]) -> Void)? = nil) {
        self.label = label
        self.write = write ?? Self.standardError
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // The line's fields: the handler's, the provider's, the call's, later ones winning (no copy when only the call
        // has some, as on the request line).
        var fields = event.metadata ?? [:]
        if !metadata.isEmpty || metadataProvider != nil {
            fields = metadata
            if let provided = metadataProvider?.get() { fields.merge(provided) { $1 } }
            if let explicit = event.metadata { fields.merge(explicit) { $1 } }
        }
        if let error = event.error { fields["error"] = "\(error)" }
        var line: [UInt8] = []
        line.reserveCapacity(256 + fields.count * 48)
        line.append(contentsOf: #"{"ts":"#.utf8)
        Self.appendQuoted(Self.timestamp(Date()), to: &line)
        line.append(contentsOf: #","level":"#.utf8)
        Self.appendQuoted(event.level.rawValue, to: &line)
        line.append(contentsOf: #","msg":"#.utf8)
        Self.appendQuoted(event.message.description, to: &line)
        line.append(contentsOf: #","logger":"#.utf8)
        Self.appendQuoted(label, to: &line)
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) where !Self.reserved.contains(key) {
            line.append(UInt8(ascii: ","))
            Self.appendQuoted(key, to: &line)
            line.append(UInt8(ascii: ":"))
            Self.appendQuoted(Self.flat(value), to: &line)
        }
        line.append(contentsOf: "}\n".utf8)
        write(line)
    }

    /// Keys the line itself uses: metadata under these names is dropped rather than written twice.
    static let reserved: Set<String> = ["ts", "level", "msg", "logger"]

    /// A metadata value as one string (lists and dictionaries as their description).
    static func flat(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): text
        case .stringConvertible(let convertible): convertible.description
        default: value.description
        }
    }

    /// `"text"` as a JSON string: quotes, backslashes and control characters escaped (and U+2028/U+2029, which
    /// some JSON readers take for line ends).
    static func quoted(_ text: String) -> String {
        var bytes: [UInt8] = []
        appendQuoted(text, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `text` as a JSON string to `line`: bytes that need no escape are copied as they are.
    static func appendQuoted(_ text: String, to line: inout [UInt8]) {
        line.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            var index = 0
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""): line.append(contentsOf: #"\""#.utf8)
                case UInt8(ascii: "\\"): line.append(contentsOf: #"\\"#.utf8)
                case UInt8(ascii: "\n"): line.append(contentsOf: #"\n"#.utf8)
                case UInt8(ascii: "\r"): line.append(contentsOf: #"\r"#.utf8)
                case UInt8(ascii: "\t"): line.append(contentsOf: #"\t"#.utf8)
                case 0..<0x20: appendEscape(UInt32(byte), to: &line)
                case 0xE2 where index + 2 < bytes.count && bytes[index + 1] == 0x80 && (bytes[index + 2] == 0xA8 || bytes[index + 2] == 0xA9):
                    appendEscape(bytes[index + 2] == 0xA8 ? 0x2028 : 0x2029, to: &line)
                    index += 2
                default: line.append(byte)
                }
                index += 1
            }
        }
        line.append(UInt8(ascii: "\""))
    }

    private static func appendEscape(_ scalar: UInt32, to line: inout [UInt8]) {
        line.append(contentsOf: #"\u"#.utf8)
        for shift in stride(from: 12, through: 0, by: -4) { line.append(Hex.digit(UInt8((scalar >> UInt32(shift)) & 0xF))) }
    }

    /// `2026-12-05T09:00:00.123Z` (UTC, milliseconds).
    static func timestamp(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let days = milliseconds.floorDivided(by: 86_400_000)
        let inDay = milliseconds - days * 86_400_000
        let civil = CivilDate(days: days)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let millis = inDay % 1000
        let fraction = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(civil.year)-\(two(civil.month))-\(two(civil.day))T\(two(inDay / 3_600_000)):\(two(inDay / 60_000 % 60)):"
            + "\(two(inDay / 1000 % 60)).\(fraction)Z"
    }

    @Sendable static func standardError(_ line: [UInt8]) {
        line.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Foundation.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }
}
