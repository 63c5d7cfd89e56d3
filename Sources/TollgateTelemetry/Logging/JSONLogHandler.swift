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
    let write: @Sendable (String) -> Void

    /// A handler for `label` writing its lines to stderr, or to `write` (tests).
    public init(label: String, write: (@Sendable (String) -> Void)? = nil) {
        self.label = label
        self.write = write ?? Self.standardError
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { $1 } }
        if let explicit = event.metadata { fields.merge(explicit) { $1 } }
        if let error = event.error { fields["error"] = "\(error)" }
        var text = #"{"ts":"# + Self.quoted(Self.timestamp(Date())) + #","level":"# + Self.quoted(event.level.rawValue) + #","msg":"#
            + Self.quoted(event.message.description) + #","logger":"# + Self.quoted(label)
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) where !Self.reserved.contains(key) {
            text += "," + Self.quoted(key) + ":" + Self.quoted(Self.flat(value))
        }
        write(text + "}\n")
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

    /// `"text"` as a JSON string: quotes, backslashes and control characters escaped.
    static func quoted(_ text: String) -> String {
        var out = "\""
        out.unicodeScalars.reserveCapacity(text.unicodeScalars.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
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

    @Sendable static func standardError(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Foundation.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }
}
