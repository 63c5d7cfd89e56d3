import NIOCore
import Testing

@testable import TollgateGateway

@Suite("RequestBodyStream")
struct RequestBodyStreamTests {
    @Test("collect: a body that came with its head at once, one that comes in pieces in order, an empty one")
    func collectsWholeBodies() async throws {
        let whole = RequestBodyStream(onDrained: {})
        _ = whole.append(ByteBuffer(string: "all "))
        _ = whole.append(ByteBuffer(string: "of it"))
        whole.finish()
        #expect(String(buffer: try await whole.collect(upTo: 100)) == "all of it")

        let slow = RequestBodyStream(onDrained: {})
        let reader = Task { String(buffer: try await slow.collect(upTo: 100)) }
        for piece in ["first ", "second ", "third"] {
            try await Task.sleep(for: .milliseconds(5))
            _ = slow.append(ByteBuffer(string: piece))
        }
        slow.finish()
        #expect(try await reader.value == "first second third")

        let empty = RequestBodyStream(onDrained: {})
        empty.finish()
        #expect(try await empty.collect(upTo: 0).readableBytes == 0)
    }

    @Test("collect: a body over the limit is refused, one exactly at it is not; a body cut short fails as it was cut")
    func collectRefusesWhatIsTooLongOrCut() async throws {
        let atLimit = RequestBodyStream(onDrained: {})
        _ = atLimit.append(ByteBuffer(string: "12345"))
        atLimit.finish()
        #expect(try await atLimit.collect(upTo: 5).readableBytes == 5)

        let over = RequestBodyStream(onDrained: {})
        _ = over.append(ByteBuffer(string: "123"))
        _ = over.append(ByteBuffer(string: "456"))
        over.finish()
        await #expect(throws: RequestBodyTooLarge.self) { try await over.collect(upTo: 5) }

        let cut = RequestBodyStream(onDrained: {})
        _ = cut.append(ByteBuffer(string: "half"))
        let reader = Task { try await cut.collect(upTo: 100) }
        try await Task.sleep(for: .milliseconds(5))
        cut.fail(RequestBodyIncomplete())
        await #expect(throws: RequestBodyIncomplete.self) { try await reader.value }
    }
}
