import NIOCore
import NIOPosix
import Testing

@testable import TollgateGateway

/// Requests take turns to be set up on their event loop: at most a few at once, the others starting in arrival order
/// as turns come back; a turn held too long (its request waits for something) stops counting; a reader waiting for
/// the rest of its request body gives its turn back.
@Suite("Request turns")
struct RequestTurnsTests {
    /// Runs `body` on a loop of its own, with turns of `limit` and `lease`.
    private func withTurns(limit: Int, lease: TimeAmount, _ body: @escaping @Sendable (RequestTurns, Started) throws -> Void) async throws {
        let (group, loop, turns) = try await loopWithTurns(limit: limit, lease: lease)
        try await loop.submit { try body(turns, Started()) }.get()
        try await group.shutdownGracefully()
    }

    /// A loop of its own, and turns on it (the caller shuts the group down).
    private func loopWithTurns(limit: Int, lease: TimeAmount) async throws -> (MultiThreadedEventLoopGroup, any EventLoop, RequestTurns) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let turns = try await loop.submit { RequestTurns(loop: loop, limit: limit, lease: lease) }.get()
        return (group, loop, turns)
    }

    /// The requests started, in order, with their turns.
    final class Started: @unchecked Sendable {
        var order: [Int] = []
        var turns: [Int: RequestTurns.Turn] = [:]

        func request(_ number: Int, on requestTurns: RequestTurns) {
            requestTurns.start { turn in
                self.order.append(number)
                self.turns[number] = turn
            }
        }
    }

    @Test("at most `limit` requests are set up at once; the others start in arrival order as turns come back")
    func limitAndOrder() async throws {
        try await withTurns(limit: 2, lease: .seconds(60)) { turns, started in
            for number in 1...5 { started.request(number, on: turns) }
            #expect(started.order == [1, 2])
            #expect(turns.waitingCount == 3)
            started.turns[2]!.giveBack()
            #expect(started.order == [1, 2, 3])
            started.turns[1]!.giveBack()
            started.turns[3]!.giveBack()
            #expect(started.order == [1, 2, 3, 4, 5])
            #expect(turns.waitingCount == 0)
            // A new request does not wait for a turn while one is free.
            started.turns[4]!.giveBack()
            started.request(6, on: turns)
            #expect(started.order.last == 6)
        }
    }

    @Test("however many waiting requests give their turn back at once (their clients left), each starts in its turn")
    func manyGivenBackAtOnce() async throws {
        try await withTurns(limit: 1, lease: .seconds(60)) { turns, started in
            started.request(0, on: turns)
            let waiting = 100_000
            let count = Counter()
            for _ in 0..<waiting {
                turns.start { turn in
                    count.value += 1
                    turn.giveBack()
                }
            }
            started.turns[0]!.giveBack()
            #expect(count.value == waiting)
            #expect(turns.held == 0)
            #expect(turns.waitingCount == 0)
        }
    }

    final class Counter: @unchecked Sendable {
        var value = 0
    }

    @Test("a turn given back twice frees one place")
    func givenBackTwice() async throws {
        try await withTurns(limit: 1, lease: .seconds(60)) { turns, started in
            for number in 1...3 { started.request(number, on: turns) }
            started.turns[1]!.giveBack()
            started.turns[1]!.giveBack()
            #expect(started.order == [1, 2], "the third still waits: the second holds the only turn")
            #expect(turns.held == 1)
        }
    }

    @Test("requests waiting behind turns held past their lease start when it runs out")
    func lease() async throws {
        let (group, loop, turns) = try await loopWithTurns(limit: 1, lease: .milliseconds(300))
        let started = Started()
        let order = try await loop.submit {
            for number in 1...3 { started.request(number, on: turns) }
            return started.order
        }.get()
        #expect(order == [1])
        try await Task.sleep(for: .seconds(2))
        #expect(try await loop.submit { started.order }.get() == [1, 2, 3], "one more per lease")
        // Turns of an ended lease come back without freeing anyone else's place (checked in the same turn of the
        // loop: a test stalled between two steps may see a lease run out).
        let afterEnded = try await loop.submit {
            started.turns[1]!.giveBack()
            started.turns[2]!.giveBack()
            started.request(4, on: turns)
            started.request(5, on: turns)
            return started.order
        }.get()
        #expect(afterEnded == [1, 2, 3], "the third holds the only turn")
        let afterThird = try await loop.submit {
            started.turns[3]!.giveBack()
            return started.order
        }.get()
        #expect(afterThird.prefix(4) == [1, 2, 3, 4])
        try await group.shutdownGracefully()
    }

    @Test("a turn given back from another thread frees its place on the loop")
    func givenBackElsewhere() async throws {
        let (group, loop, turns) = try await loopWithTurns(limit: 1, lease: .seconds(60))
        let started = Started()
        try await loop.submit { for number in 1...2 { started.request(number, on: turns) } }.get()
        let first = try await loop.submit { started.turns[1]! }.get()
        first.giveBack()
        try await Task.sleep(for: .milliseconds(50))
        #expect(try await loop.submit { started.order }.get() == [1, 2])
        try await group.shutdownGracefully()
    }

    @Test("a body reader gives its turn back when it has to wait for more of the body, not when the body is there")
    func bodyWait() async throws {
        let (group, loop, turns) = try await loopWithTurns(limit: 2, lease: .seconds(60))
        let held = { try await loop.submit { turns.held }.get() }

        let whole = RequestBodyStream(onDrained: {})
        whole.giveBackWhenWaiting(try await loop.submit { turns.turnNow()! }.get())
        _ = whole.append(ByteBuffer(string: "all of it"))
        whole.finish()
        var collected = ""
        for try await piece in whole { collected += String(buffer: piece) }
        #expect(collected == "all of it")
        #expect(try await held() == 1, "the body was there: the turn is still held")

        let slow = RequestBodyStream(onDrained: {})
        slow.giveBackWhenWaiting(try await loop.submit { turns.turnNow()! }.get())
        #expect(try await held() == 2)
        let reader = Task {
            var text = ""
            for try await piece in slow { text += String(buffer: piece) }
            return text
        }
        // Nothing of the body yet: the reader waits, and gives its turn back.
        let deadline = ContinuousClock.now + .seconds(60)
        while try await held() != 1, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(try await held() == 1)
        _ = slow.append(ByteBuffer(string: "first "))
        try await Task.sleep(for: .milliseconds(20))
        _ = slow.append(ByteBuffer(string: "second"))
        slow.finish()
        #expect(try await reader.value == "first second")
        #expect(try await held() == 1, "given back at the first wait, once")
        try await group.shutdownGracefully()
    }
}

extension RequestTurns {
    /// Runs `work` with a turn: now when one is free, else once one is (as the proxy connection takes them).
    func start(_ work: @escaping (Turn) -> Void) {
        if let turn = turnNow() { work(turn) } else { wait(work) }
    }
}
