import Foundation
import Logging
import Synchronization
import Testing

@testable import TollgateTelemetry

@Suite("JSON log lines")
struct JSONLogHandlerTests {
    /// The lines a logger writes through a ``JSONLogHandler``.
    static func lines(_ write: (Logger) -> Void) -> [String] {
        let written = Mutex<[String]>([])
        var logger = Logger(label: "tollgate") {
            JSONLogHandler(label: $0, write: { line in written.withLock { $0.append(String(decoding: line, as: UTF8.self)) } })
        }
        logger.logLevel = .info
        write(logger)
        return written.withLock { $0 }
    }

    @Test("one JSON object per line: ts, level, msg, logger, then the metadata as strings, sorted")
    func shape() throws {
        let lines = Self.lines { logger in
            logger.info("request", metadata: ["event_id": "evt_1", "status": "200", "tokens": .stringConvertible(42)])
            logger.debug("not written below the level")
        }
        try #require(lines.count == 1)
        #expect(lines[0].hasSuffix("}\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: String])
        #expect(object["level"] == "info")
        #expect(object["msg"] == "request")
        #expect(object["logger"] == "tollgate")
        #expect(object["event_id"] == "evt_1")
        #expect(object["tokens"] == "42")
        let ts = try #require(object["ts"])
        #expect(ts.count == 24 && ts.hasSuffix("Z") && ts.contains("T"), "\(ts)")
        #expect(lines[0].range(of: "\"event_id\"")!.lowerBound < lines[0].range(of: "\"status\"")!.lowerBound)
    }

    @Test("quotes, backslashes, newlines and control characters are escaped; metadata cannot overwrite the line's own keys")
    func escaping() throws {
        let message = "a \"quoted\" \\ path\nnext line\u{01}\ttab é \u{2028} 日本"
        let lines = Self.lines { $0.error("\(message)", metadata: ["msg": "forged", "level": "debug"]) }
        try #require(lines.count == 1)
        #expect(lines[0].split(separator: "\n").count == 1)
        #expect(lines[0].contains(#"\u2028"#) && lines[0].contains(#"\u0001"#) && lines[0].contains("日本"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: String])
        #expect(object["msg"] == message)
        #expect(object["level"] == "error")
    }

    @Test("timestamps are UTC with milliseconds, before and after 1970 and on leap days")
    func timestamps() {
        #expect(JSONLogHandler.timestamp(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(JSONLogHandler.timestamp(Date(timeIntervalSince1970: 1_709_164_800.25)) == "2024-02-29T00:00:00.250Z")
        #expect(JSONLogHandler.timestamp(Date(timeIntervalSince1970: 1_796_461_199.999)) == "2026-12-05T08:59:59.999Z")
        #expect(JSONLogHandler.timestamp(Date(timeIntervalSince1970: -0.5)) == "1969-12-31T23:59:59.500Z")
    }
}
