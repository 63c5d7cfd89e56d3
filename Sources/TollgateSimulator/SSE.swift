import Hummingbird

/// How a stream is paced: a pause before the first chunk, then one before every token chunk.
struct Pacing: Sendable {
    let firstTokenDelayMs: Int
    let tokenDelayMs: Int
}

/// One server-sent event, framed and ready to write.
struct SSEEvent: Sendable {
    /// The framed bytes, blank-line terminator included.
    let text: String
    /// Whether this event carries a generated token, and so waits the token delay before it is written.
    let isToken: Bool

    /// `data: {json}\n\n`, OpenAI's Chat/Completions framing.
    static func data(_ json: JSON, isToken: Bool = false) -> SSEEvent {
        SSEEvent(text: "data: " + json.encoded + "\n\n", isToken: isToken)
    }

    /// `event: TYPE\ndata: {json}\n\n`, the Responses API framing.
    static func named(_ type: String, _ json: JSON, isToken: Bool = false) -> SSEEvent {
        SSEEvent(text: "event: " + type + "\ndata: " + json.encoded + "\n\n", isToken: isToken)
    }

    /// The Chat/Completions end-of-stream marker.
    static let done = SSEEvent(text: "data: [DONE]\n\n", isToken: false)
}

/// Streaming response bodies: every piece is its own write (and so its own flush), so pacing is real.
enum StreamBody {
    /// The error thrown to abort a stream for `x-sim-cut-after`.
    ///
    /// Hummingbird has no API to reset a connection from a handler, but a body writer that throws makes it
    /// close the channel without the terminating zero-length chunk: the client sees an incomplete chunked body
    /// and a closed connection, which is what an upstream dying mid-stream looks like.
    struct Cut: Error {}

    /// The content type of every stream.
    static let contentType = "text/event-stream; charset=utf-8"

    /// A streaming response of `events`, paced by the exchange, cut short if it asks for that. The pieces of a stream
    /// that is not SSE (Gemini's JSON array) travel as events too, with their own `contentType`.
    static func events(_ events: [SSEEvent], contentType: String = contentType, for exchange: Exchange) -> Response {
        let pacing = exchange.pacing
        let pieces = events.enumerated().map { index, event in
            let delay = index == 0 ? pacing.firstTokenDelayMs : (event.isToken ? pacing.tokenDelayMs : 0)
            return (ByteBuffer(string: event.text), delay)
        }
        return response(pieces: pieces, contentType: contentType, status: .ok, cutAfter: exchange.integer(SimHeader.cutAfter))
    }

    /// A streaming response writing `pieces` in order after their delays (milliseconds), without compression.
    static func response(
        pieces: [(ByteBuffer, Int)], contentType: String, status: HTTPResponse.Status, cutAfter: Int? = nil
    ) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        headers[.cacheControl] = "no-cache"
        let body = ResponseBody { writer in
            for (index, (buffer, delayMs)) in pieces.enumerated() {
                if let cutAfter, index >= cutAfter { throw Cut() }
                if delayMs > 0 { try await Task.sleep(for: .milliseconds(delayMs)) }
                try await writer.write(buffer)
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }
}
