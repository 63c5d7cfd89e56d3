import Foundation
import Hummingbird

/// The last requests the simulator received, so tests can check what the proxy sent upstream
/// (GET /_sim/requests lists them oldest first, DELETE /_sim/requests forgets them).
final class RequestLog: @unchecked Sendable {
    // @unchecked: `entries` is only touched while holding `lock`. A lock rather than an actor keeps recording off
    // the async path of every request, which matters at benchmark rates.
    private let lock = NSLock()
    private var entries: [JSON] = []
    private let capacity: Int

    /// A log that keeps the newest `capacity` requests.
    init(capacity: Int = 200) {
        self.capacity = capacity
    }

    /// Remembers `exchange`: method, path with query, headers (repeated names joined by ", ") and body as text.
    func record(_ exchange: Exchange) {
        var headers: [(String, JSON)] = exchange.authority.map { [("host", .string($0))] } ?? []
        for field in exchange.headers {
            let name = field.name.canonicalName
            if let index = headers.firstIndex(where: { $0.0 == name }), case .string(let previous) = headers[index].1 {
                headers[index].1 = .string(previous + ", " + field.value)
            } else {
                headers.append((name, .string(field.value)))
            }
        }
        let entry: JSON = [
            "method": .string(exchange.method.rawValue), "path": .string(exchange.target),
            "headers": .object(headers), "body": .string(String(buffer: exchange.body)),
        ]
        lock.withLock {
            entries.append(entry)
            if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
        }
    }

    /// Everything remembered, oldest first.
    var snapshot: JSON {
        lock.withLock { .array(entries) }
    }

    /// Forgets everything.
    func clear() {
        lock.withLock { entries.removeAll() }
    }
}
