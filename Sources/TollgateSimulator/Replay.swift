import Foundation
import Hummingbird

/// Serves recorded provider responses byte-exact (`--replay-dir DIR` + `x-sim-replay: CASE`), so the proxy can be
/// tested against real bodies: `DIR/CASE/case.json` gives status and content type, `DIR/CASE/response.body` the bytes.
struct ReplayStore: Sendable {
    /// The case folder's parent.
    let directory: String

    /// Size of each write when replaying a stream: small, so parsers downstream see events split anywhere.
    static let streamPieceSize = 7

    /// The part of case.json the simulator uses.
    private struct Case: Decodable {
        /// The `response` member.
        struct Recorded: Decodable {
            let status: Int
            let content_type: String
            let body_file: String
        }

        let response: Recorded
    }

    /// The recorded response for `name`; streams go out in small unpaced pieces, other bodies whole (gzip-compressed
    /// like any JSON reply when the client accepts it: the stored bytes are what the client reads after decoding).
    func respond(case name: String, for exchange: Exchange) throws(APIError) -> Response {
        guard !name.isEmpty, !name.contains("/"), !name.hasPrefix(".") else { throw Self.unknown(name) }
        let folder = URL(fileURLWithPath: directory).appendingPathComponent(name)
        guard let caseData = try? Data(contentsOf: folder.appendingPathComponent("case.json")),
            let recorded = try? JSONDecoder().decode(Case.self, from: caseData).response,
            let body = try? Data(contentsOf: folder.appendingPathComponent(recorded.body_file))
        else { throw Self.unknown(name) }
        let status = HTTPReply.status(recorded.status)
        guard recorded.content_type.hasPrefix("text/event-stream") else {
            return HTTPReply.bytes(Array(body), contentType: recorded.content_type, status: status, for: exchange)
        }
        let pieces = stride(from: 0, to: body.count, by: Self.streamPieceSize).map { start in
            (ByteBuffer(bytes: body[start..<min(start + Self.streamPieceSize, body.count)]), 0)
        }
        return StreamBody.response(pieces: pieces, contentType: recorded.content_type, status: status)
    }

    /// The error for a case that is not in the replay folder.
    private static func unknown(_ name: String) -> APIError {
        APIError(status: 400, message: "Unknown replay case '\(name)'.", type: "invalid_request_error", code: "sim_unknown_replay_case")
    }
}
